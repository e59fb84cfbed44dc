// Command agwxds dumps, as JSON lines on stdout, the configuration the agentgateway controller (kgateway)
// serves over xDS to the proxies of one Gateway: it connects as agentgateway does (delta ADS, the node's
// "role" metadata <namespace>~<gateway>, a ServiceAccount token of audience "kgateway" as a bearer token),
// subscribes to every Resource and Address, ACKs, and prints each resource received until --timeout, or
// until --idle passes without a message once something arrived.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agentgateway/agentgateway/go/api"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/kgateway-dev/kgateway/v2/pkg/kgateway/xds"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"istio.io/istio/pkg/workloadapi"
)

func typeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}

func main() {
	address := flag.String("address", "127.0.0.1:9978", "host:port of the controller's agentgateway xDS server")
	gateway := flag.String("gateway", "agentgateway-system/agentgateway-proxy", "namespace/name of the Gateway")
	tokenFile := flag.String("token-file", "", "ServiceAccount token (audience kgateway) of the Gateway's proxy")
	timeout := flag.Duration("timeout", 10*time.Second, "stop after this long")
	idle := flag.Duration("idle", 2*time.Second, "stop after this long without a message, once one arrived")
	flag.Parse()
	if err := run(*address, *gateway, *tokenFile, *timeout, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "agwxds:", err)
		os.Exit(1)
	}
}

func run(address, gateway, tokenFile string, timeout, idle time.Duration) error {
	ns, name, ok := strings.Cut(gateway, "/")
	if !ok {
		return fmt.Errorf("--gateway %q: want namespace/name", gateway)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if tokenFile != "" {
		token, err := os.ReadFile(tokenFile)
		if err != nil {
			return err
		}
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	// The node as agentgateway's xDS client builds it (crates/xds/src/client.rs); the server selects the
	// Gateway by "role" (kgateway pkg/kgateway/xds AgentgatewayID) and, with xDS auth on, requires it to
	// equal the token's <namespace>/<ServiceAccount>.
	meta, err := structpb.NewStruct(map[string]any{
		xds.RoleKey: ns + xds.KeyDelimiter + name, "NAME": "agwxds", "NAMESPACE": ns, "GATEWAY": name,
		"INSTANCE_IPS": "127.0.0.1", "NODE_NAME": "agwxds",
	})
	if err != nil {
		return err
	}
	node := &core.Node{Id: fmt.Sprintf("agentgateway~127.0.0.1~agwxds.%s~%s.svc.cluster.local", ns, ns), Metadata: meta}
	if got := xds.AgentgatewayID(node); got.Namespace != ns || got.Name != name {
		return fmt.Errorf("node names gateway %v", got)
	}
	for _, t := range []string{typeURL(&api.Resource{}), typeURL(&workloadapi.Address{})} {
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: t}); err != nil {
			return err
		}
	}
	type result struct {
		resp *discovery.DeltaDiscoveryResponse
		err  error
	}
	results := make(chan result)
	go func() {
		for {
			resp, err := stream.Recv()
			results <- result{resp, err}
			if err != nil {
				return
			}
		}
	}()
	out := json.NewEncoder(os.Stdout)
	received, quiet := 0, (<-chan time.Time)(nil)
	for {
		select {
		case <-ctx.Done():
			return finish(ctx, received, nil)
		case <-quiet:
			return finish(ctx, received, nil)
		case r := <-results:
			if r.err != nil {
				return finish(ctx, received, r.err)
			}
			for _, res := range r.resp.Resources {
				body, err := protojson.Marshal(res)
				if err != nil {
					return err
				}
				if err := out.Encode(map[string]any{"typeUrl": r.resp.TypeUrl, "resource": json.RawMessage(body)}); err != nil {
					return err
				}
				received++
			}
			for _, removed := range r.resp.RemovedResources {
				fmt.Fprintf(os.Stderr, "removed %s %s\n", r.resp.TypeUrl, removed)
			}
			ack := &discovery.DeltaDiscoveryRequest{TypeUrl: r.resp.TypeUrl, ResponseNonce: r.resp.Nonce}
			if err := stream.Send(ack); err != nil {
				return err
			}
			quiet = time.After(idle)
		}
	}
}

// finish reports how the dump ended: an error if nothing arrived or the stream failed before the deadline.
func finish(ctx context.Context, received int, err error) error {
	fmt.Fprintf(os.Stderr, "agwxds: %d resources\n", received)
	if err != nil && ctx.Err() == nil {
		return err
	}
	if received == 0 {
		return errors.New("no resources received before the timeout")
	}
	return nil
}

// Command kgateway runs the agentgateway controller (kgateway-dev/kgateway's setup package, configured
// by the same KGW_* environment as upstream's cmd/kgateway) with every listener on a loopback address
// the test world chooses. Upstream's main binds its xDS (9978), health (9093) and metrics (9092) servers
// on all interfaces and its admin (9095) and pprof (9099) servers on fixed loopback ports: on a shared
// test machine that would expose them and let two clusters' controllers collide. Nothing else differs
// from upstream's main: the same setup.New, the same manager options, the same leader election lease.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	apisettings "github.com/kgateway-dev/kgateway/v2/api/settings"
	"github.com/kgateway-dev/kgateway/v2/pkg/kgateway/setup"
	"github.com/kgateway-dev/kgateway/v2/pkg/kgateway/wellknown"
	"github.com/kgateway-dev/kgateway/v2/pkg/utils/namespaces"
	"github.com/kgateway-dev/kgateway/v2/pkg/version"
)

func main() {
	xds := flag.String("xds-address", "127.0.0.1:0", "listen address of the agentgateway xDS server")
	health := flag.String("health-address", "127.0.0.1:0", "listen address of /healthz and /readyz")
	metrics := flag.String("metrics-address", "127.0.0.1:0", "listen address of /metrics")
	admin := flag.Uint("admin-port", 0, "loopback port of the admin server (0: a free one)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String())
		return
	}
	if err := run(*xds, *health, *metrics, uint32(*admin)); err != nil {
		fmt.Fprintln(os.Stderr, "kgateway:", err)
		os.Exit(1)
	}
}

func run(xdsAddress, healthAddress, metricsAddress string, adminPort uint32) error {
	if adminPort == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		adminPort = port
	}
	wellknown.KgatewayAdminPort = adminPort
	settings, err := apisettings.BuildSettings()
	if err != nil {
		return fmt.Errorf("settings from the KGW_* environment: %w", err)
	}
	listener, err := net.Listen("tcp", xdsAddress)
	if err != nil {
		return fmt.Errorf("xDS listener: %w", err)
	}
	// The lease upstream's setup names when only the agentgateway controller is enabled.
	lease := wellknown.LeaderElectionID
	if settings.EnableAgentgateway && !settings.EnableEnvoy {
		lease += "-agentgateway"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	server, err := setup.New(
		setup.WithGlobalSettings(settings),
		setup.WithAgwXDSListener(listener),
		setup.WithControllerManagerOptions(func(ctx context.Context) *ctrl.Options {
			return &ctrl.Options{
				BaseContext:             func() context.Context { return ctx },
				Scheme:                  runtime.NewScheme(),
				PprofBindAddress:        "0",
				HealthProbeBindAddress:  healthAddress,
				Metrics:                 metricsserver.Options{BindAddress: metricsAddress},
				LeaderElectionNamespace: namespaces.GetPodNamespace(),
				LeaderElection:          !settings.DisableLeaderElection,
				LeaderElectionID:        lease,
			}
		}),
	)
	if err != nil {
		return fmt.Errorf("setting up kgateway: %w", err)
	}
	return server.Start(ctx)
}

func freePort() (uint32, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint32(l.Addr().(*net.TCPAddr).Port), nil
}

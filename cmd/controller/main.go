// Command controller runs Kerf: wiring only, everything else lives in pkg/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	// Disruption windows name IANA time zones; the controller image has no zoneinfo of its own.
	_ "time/tzdata"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/operator"
)

func main() {
	opts, settings, err := operator.LoadOptions(context.Background(), os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(operator.Usage())
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kerf-controller: %v\n", err)
		os.Exit(2)
	}
	log := operator.NewLogger(opts.LogLevel, os.Stderr)
	ctrl.SetLogger(log)
	klog.SetLogger(log) // client-go (leader election among others) logs through klog
	ctx := ctrl.SetupSignalHandler()

	config, err := operator.RESTConfig(opts)
	if err != nil {
		exit(log, err)
	}
	op, err := operator.New(opts, config, log)
	if err != nil {
		exit(log, err)
	}
	cloud, queue, err := newAWS(ctx, log, opts, config, op.GetClient(), op.Clock, op.Unavailable)
	if err != nil {
		exit(log, err)
	}
	if err := op.RegisterControllers(ctx, cloud, aws.DefaultRequirements); err != nil {
		exit(log, err)
	}
	if err := op.WatchGlobalSettings(settings); err != nil {
		exit(log, err)
	}
	if err := op.Add(cloud.LaunchTemplateGarbageCollector()); err != nil {
		exit(log, err)
	}
	if queue != nil {
		if err := op.RegisterInterruption(queue); err != nil {
			exit(log, err)
		}
	}
	log.Info("starting", "version", operator.Version, "clusterName", opts.ClusterName, "leaderElection", opts.LeaderElection)
	if err := op.Start(ctx); errors.Is(err, operator.ErrSettingsChanged) {
		// The kubelet starts the container again, which reads the new settings.
		log.Info("stopped to apply changed settings")
		os.Exit(0)
	} else if err != nil {
		exit(log, err)
	}
	log.Info("stopped")
}

func exit(log logr.Logger, err error) {
	log.Error(err, "exiting")
	os.Exit(1)
}

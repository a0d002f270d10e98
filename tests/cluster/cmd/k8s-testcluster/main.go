// Command k8s-testcluster is the Kubernetes control plane of bodywork-jupyter's
// test cluster: one binary holding kube-apiserver, kube-controller-manager and
// kube-scheduler, built from k8s.io/kubernetes at the version pinned in go.mod.
//
// Each component still runs as its own process (their flags, metrics registries
// and global state are not meant to share one), chosen by the first argument:
//
//	k8s-testcluster apiserver [kube-apiserver flags]
//	k8s-testcluster controller-manager [kube-controller-manager flags]
//	k8s-testcluster scheduler [kube-scheduler flags]
//	k8s-testcluster kubelet-server --listen ADDR --tls-cert-file F --tls-private-key-file F --agent URL
//	k8s-testcluster version
package main

import (
	"fmt"
	"os"
	"runtime"
	_ "time/tzdata" // CronJob time zones

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/component-base/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-testcluster apiserver|controller-manager|scheduler|kubelet-server|version [flags]")
		os.Exit(2)
	}
	component := os.Args[1]
	var command *cobra.Command
	switch component {
	case "apiserver":
		command = apiserver.NewAPIServerCommand()
	case "controller-manager":
		command = controllermanager.NewControllerManagerCommand()
	case "scheduler":
		command = scheduler.NewSchedulerCommand()
	case "kubelet-server":
		os.Exit(runKubeletServer(os.Args[2:]))
	case "version":
		fmt.Printf("%s %s\n", version.Get().GitVersion, runtime.Version())
		return
	default:
		fmt.Fprintf(os.Stderr, "k8s-testcluster: unknown component %q\n", component)
		os.Exit(2)
	}
	command.SetArgs(os.Args[2:])
	os.Exit(cli.Run(command))
}

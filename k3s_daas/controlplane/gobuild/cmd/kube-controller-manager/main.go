// The kube-controller-manager, built from the k8s.io/kubernetes module.
// It runs the namespace, garbage-collector and bootstrap-token controllers the tests rely on.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }

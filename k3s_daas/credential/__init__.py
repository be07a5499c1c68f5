"""What a user does with their Sui key to reach the cluster: the kubectl exec credential plugin
(`k3s-daas token`), a kubeconfig that runs it, and a node's join (`k3s-daas join`)."""

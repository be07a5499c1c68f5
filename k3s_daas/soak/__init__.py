"""The soak benchmark (`k3s-daas bench soak`): load with chain churn, every answer checked."""

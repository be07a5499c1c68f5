"""`k3s-daas bench authn`: the TokenReview benchmark (DESIGN.md, "Performance budgets")."""

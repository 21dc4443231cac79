"""One era-exp run end to end: plan → encode (cached) → stages → retrieval → evaluation → results."""

"""What the benchmarks share: the stack they start (`stack`), the SMTP sink with its journal
(`sink`), the load generators (`load`) and the goal table (`report`)."""

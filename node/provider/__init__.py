"""The reference provider's compute backends: what a provider runs to earn a job's payment.

* ``quantum`` — the prover side of QUANTUM_V1: a numpy statevector simulator, the per-slot
  shot sampler, the commitment and the signed opening (pure functions; the verifier lives
  in ``proofs.quantum``).
* ``backends`` — AI backends behind one ``AiBackend`` interface: a built-in tiny integer
  language model (bit-identical on every machine) and a client for an OpenAI-compatible
  chat-completions server.
"""

"""One process-wide counter of XLA compilations (through jax.monitoring), for tests that check
that a call compiles nothing."""

import jax


class CompileCounter:
    def __init__(self):
        self.count = 0
        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


compiles = CompileCounter()

"""A tiny CNN for the layer explorer's tests (temporary stand-in until jv.wrap lands)."""
import jax
import jax.numpy as jnp


class _Stub:
    kind = "function"
    layers = ("conv1", "pool1", "conv2", "dense1", "logits")

    def __init__(self, key, cin=1, classes=3):
        k = jax.random.split(key, 4)
        self.params = {
            "conv1": jax.random.normal(k[0], (3, 3, cin, 4)) * 0.5,
            "conv2": jax.random.normal(k[1], (3, 3, 4, 6)) * 0.3,
            "dense1": jax.random.normal(k[2], (6, 5)) * 0.5,
            "logits": jax.random.normal(k[3], (5, classes)) * 0.5,
        }

    def apply(self, params, x, taps=None):
        taps = taps or {}
        out = {}

        def tap(name, h):
            if name in taps:
                h = h + taps[name]
                out[name] = h
            return h

        def conv(h, w):
            return jax.lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = tap("conv1", jax.nn.relu(conv(x, params["conv1"])))
        h = tap("pool1", jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                                               (1, 2, 2, 1), "VALID"))
        h = tap("conv2", jax.nn.relu(conv(h, params["conv2"])))
        h = h.mean(axis=(1, 2))
        h = tap("dense1", jax.nn.relu(h @ params["dense1"] + 0.1))
        h = tap("logits", h @ params["logits"])
        return (h, out) if taps else h

    def __call__(self, x):
        return self.apply(self.params, x)

    def layer_shapes(self, x):
        return jax.eval_shape(
            lambda x: self.apply(self.params, x, taps={n: 0.0 for n in self.layers})[1], x)


def tiny_cnn():
    return _Stub(jax.random.key(0))

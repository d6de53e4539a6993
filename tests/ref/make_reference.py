"""Reference values from PyTorch 1.13 (Debian python3-torch) for the busted spec
tests/lua/reference_spec.lua: outputs, losses and every gradient of small MLPs and of
recurrent stacks (RNN tanh/ReLU, GRU, LSTM; 1-2 layers; last-step and every-step outputs),
and a few optimizer trajectories, for fixed weights and inputs.

Regenerate (only needed when a case is added):
    /usr/bin/python3 tests/ref/make_reference.py > tests/ref/reference.lua
The output is a Lua file returning one table; the spec builds the same models in moonlab,
copies the weights in, and compares."""
import torch

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)  # the reference in double; moonlab computes in float32


def lua(v, indent=""):
    if isinstance(v, torch.Tensor):
        v = v.detach().tolist()
    if isinstance(v, dict):
        items = ",\n".join('%s  ["%s"] = %s' % (indent, k, lua(x, indent + "  ")) for k, x in v.items())
        return "{\n" + items + "\n" + indent + "}"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua(x, indent) for x in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    return '"%s"' % v


ACT = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}


def mlp_case(sizes, act, loss, batch, weights=None, reduce="mean"):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACT[act]())
    net = torch.nn.Sequential(*layers)
    x = torch.randn(batch, sizes[0], requires_grad=True)
    out = net(x)
    if loss == "mse":
        y = torch.randn(batch, sizes[-1])
        per = 0.5 * ((out - y) ** 2).sum(dim=1)
    elif loss == "cross_entropy":
        y = torch.randint(0, sizes[-1], (batch,))
        per = torch.nn.functional.cross_entropy(out, y, reduction="none")
    else:
        y = (torch.rand(batch, sizes[-1]) > 0.5).double()
        per = torch.nn.functional.binary_cross_entropy_with_logits(out, y, reduction="none").sum(dim=1)
    w = torch.ones(batch) if weights is None else weights
    total = (w * per).sum()
    value = total / (batch if reduce == "mean" else w.sum() if reduce == "weighted_mean" else 1.0)
    value.backward()
    params = {}
    for name, p in net.named_parameters():
        idx = int(name.split(".")[0]) + 1  # moonlab numbers layers from 1, activations included
        params["%d.%s" % (idx, name.split(".")[1])] = {"value": p, "grad": p.grad}
    case = {"sizes": sizes, "act": act, "loss": loss, "reduce": reduce, "x": x, "dx": x.grad,
            "y": y.double(), "out": out, "value": value.item(), "params": params}
    if weights is not None:
        case["weights"] = weights
    return case


def optim_case(kind, steps=4, **kw):
    p = torch.randn(5, requires_grad=True)
    p0 = p.detach().clone()
    grads = [torch.randn(5) for _ in range(steps)]
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]([p], **kw)
    for g in grads:
        opt.zero_grad()
        p.grad = g.clone()
        opt.step()
    return {"kind": kind, "opts": kw, "p0": p0, "grads": grads, "p": p}


def rnn_case(cell, D, H, layers, B, T, sequence, nonlinearity="tanh", initial=False,
             bidirectional=False):
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
    kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    net = cls(D, H, num_layers=layers, batch_first=True, bidirectional=bidirectional, **kw)
    dirs = 2 if bidirectional else 1
    x = torch.randn(B, T, D, requires_grad=True)
    state = None
    if initial:
        h0 = torch.randn(layers * dirs, B, H, requires_grad=True)
        c0 = torch.randn(layers * dirs, B, H, requires_grad=True)
        state = (h0, c0) if cell == "lstm" else h0
    out, final = net(x, state)
    y = out if sequence else out[:, -1, :]
    R = torch.randn(*y.shape)
    (y * R).sum().backward()
    params = {name: {"value": p, "grad": p.grad} for name, p in net.named_parameters()}
    kind = "rnn_relu" if cell == "rnn" and nonlinearity == "relu" else cell
    case = {"cell": kind, "in": D, "hidden": H, "layers": layers, "sequence": sequence,
            "bidirectional": bidirectional, "x": x, "dx": x.grad, "y": y, "dy": R,
            "params": params}
    hn, cn = final if cell == "lstm" else (final, None)
    case["hn"] = hn
    if cn is not None:
        case["cn"] = cn
    if initial:
        case["h0"], case["dh0"] = h0, h0.grad
        if cell == "lstm":
            case["c0"], case["dc0"] = c0, c0.grad
    return case


cases = {
    "mlp_ce_relu": mlp_case([6, 5, 4], "relu", "cross_entropy", 7),
    "mlp_mse_tanh": mlp_case([3, 8, 8, 2], "tanh", "mse", 5),
    "mlp_bce_sigmoid": mlp_case([4, 6, 3], "sigmoid", "bce_logits", 6),
    "mlp_ce_weighted": mlp_case([5, 4, 3], "tanh", "cross_entropy", 6,
                                weights=torch.rand(6) + 0.1, reduce="weighted_mean"),
    "mlp_mse_weighted_mean": mlp_case([2, 3, 1], "relu", "mse", 4,
                                      weights=torch.rand(4) + 0.1, reduce="mean"),
}
optims = {
    "sgd_momentum_nesterov_wd": optim_case("sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd_plain": optim_case("sgd", lr=0.05),
    "adam": optim_case("adam", lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1),
    "adamw": optim_case("adamw", lr=0.01, weight_decay=0.2),
}
def embedding_case(V, E, H, B, T):
    emb = torch.nn.Embedding(V, E)
    gru = torch.nn.GRU(E, H, batch_first=True)
    head = torch.nn.Linear(H, 3)
    ids = torch.randint(0, V, (B, T))
    out, _ = gru(emb(ids))
    y = head(out)  # (B, T, 3): a loss on every step
    tgt = torch.randint(0, 3, (B, T))
    loss = torch.nn.functional.cross_entropy(y.reshape(B * T, 3), tgt.reshape(-1))
    loss.backward()
    params = {"1.weight": {"value": emb.weight, "grad": emb.weight.grad}}
    for name, p in gru.named_parameters():
        params["2." + name] = {"value": p, "grad": p.grad}
    params["3.weight"] = {"value": head.weight, "grad": head.weight.grad}
    params["3.bias"] = {"value": head.bias, "grad": head.bias.grad}
    return {"vocab": V, "size": E, "hidden": H, "ids": ids.double(), "y": y,
            "target": tgt.double(), "value": loss.item(), "params": params}


embeddings = {"embedding_gru_per_step_ce": embedding_case(7, 4, 5, 3, 6)}

rnns = {
    "rnn_tanh_2layers_last": rnn_case("rnn", 3, 5, 2, 4, 6, False),
    "rnn_relu_sequence": rnn_case("rnn", 4, 3, 1, 3, 5, True, "relu"),
    "gru_2layers_sequence": rnn_case("gru", 3, 4, 2, 2, 5, True),
    "gru_last": rnn_case("gru", 2, 6, 1, 3, 4, False),
    "lstm_2layers_last": rnn_case("lstm", 3, 4, 2, 3, 7, False),
    "lstm_sequence": rnn_case("lstm", 5, 3, 1, 2, 4, True),
    "rnn_initial_state": rnn_case("rnn", 3, 4, 2, 3, 4, True, initial=True),
    "gru_initial_state": rnn_case("gru", 2, 3, 2, 2, 5, False, initial=True),
    "lstm_initial_state": rnn_case("lstm", 3, 4, 2, 3, 6, True, initial=True),
    "lstm_bidirectional_2layers": rnn_case("lstm", 3, 4, 2, 3, 5, True, initial=True,
                                           bidirectional=True),
    "gru_bidirectional_last": rnn_case("gru", 2, 3, 1, 2, 4, False, bidirectional=True),
    "rnn_bidirectional_2layers_last": rnn_case("rnn", 3, 2, 2, 3, 4, False, initial=True,
                                               bidirectional=True),
}
print("-- Generated by tests/ref/make_reference.py with PyTorch %s; do not edit." % torch.__version__)
print("return " + lua({"mlp": cases, "optim": optims, "rnn": rnns, "embedding": embeddings}))

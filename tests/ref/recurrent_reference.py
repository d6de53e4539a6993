"""Recurrent reference fixtures from PyTorch 1.13 (Debian python3-torch) for
tests/c/test_rnn_reference.c, written to tests/ref/recurrent.h5.

Regenerate (make_reference.py runs this too):
    /usr/bin/python3 tests/ref/recurrent_reference.py

Every weight and input is drawn, rounded to float32 and then used in float64, so PyTorch computes
in double on exactly the numbers moonlab receives in float32; the comparison then measures
moonlab's float32 arithmetic alone.

Layout: one group per case under /cases, with attributes saying what to build and datasets
(float64 unless said otherwise):
  kind = "stack"      a recurrent stack through moonlab's C API (ml_rnn_*): attributes cell
                      ("rnn", "rnn_relu", "gru", "lstm"), in, hidden, layers, bidirectional,
                      sequence (1: every step, 0: each sequence's last step), learn_state;
                      x (B,T,D), lengths (B, int64; optional: pack_padded_sequence), h0, c0
                      (layers·dirs,B,H; optional), y, dy (the weights R of J = sum(y R)),
                      dhn, dcn (optional: J also has sum(h_n dhn) + sum(c_n dcn)), hn, cn, dx,
                      dh0, dc0.
  kind = "truncated"  the same stack over two consecutive windows x1, x2 with window 2 starting
                      from window 1's final states, detached: y2, dy (R on window 2), dx2.
  kind = "model"      a sequential model (attribute model names the layers, built by the C
                      test): ids or x, lengths (optional), y, and dy (J = sum(y R)) or target
                      and loss (mean cross-entropy over every step).
  Every case: params (N) all parameters in moonlab's flat order, which is the order of
  PyTorch's named_parameters (module by module; learnable initial states last), and grads (N)
  their gradients; the attributes param_names and param_shapes list the PyTorch names and
  shapes in that order, for reading by eye."""
import os

import h5py
import numpy as np
import torch

F = torch.nn.functional
HERE = os.path.dirname(os.path.abspath(__file__))


def f32(t):
    """t rounded to float32, kept in float64."""
    return t.detach().float().double()


def leaf(t):
    return f32(t).requires_grad_(True)


def round_params(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(f32(p))


def stack(cell, D, H, layers, bidirectional, nonlinearity="tanh"):
    cls = {"rnn": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "gru": torch.nn.GRU,
           "lstm": torch.nn.LSTM}[cell]
    kw = {"nonlinearity": "relu" if cell == "rnn_relu" else "tanh"} if cell.startswith("rnn") else {}
    net = cls(D, H, num_layers=layers, batch_first=True, bidirectional=bidirectional, **kw)
    round_params(net)
    return net


def run(net, x, lengths, state, T):
    """Outputs (B,T,dirs·H), zero on padded steps, and the final states."""
    if lengths is None:
        return net(x, state)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=True,
                                                     enforce_sorted=False)
    out, final = net(packed, state)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    return out, final


def last_steps(out, lengths):
    B, T = out.shape[0], out.shape[1]
    idx = torch.tensor(lengths if lengths is not None else [T] * B) - 1
    return out[torch.arange(B), idx]


def flat(named):
    """params and grads in order, and the named copies."""
    values = [p.detach().reshape(-1) for _, p in named]
    grads = [p.grad.detach().reshape(-1) for _, p in named]
    return torch.cat(values), torch.cat(grads), {n: (p.detach(), p.grad.detach()) for n, p in named}


def stack_case(cell, D, H, layers, B, T, sequence, bidirectional=False, initial=False,
               lengths=None, final_grads=False, learn_state=False):
    net = stack(cell, D, H, layers, bidirectional)
    S = layers * (2 if bidirectional else 1)
    x = leaf(torch.randn(B, T, D))
    lstm = cell == "lstm"
    case = {"attrs": {"kind": "stack", "cell": cell, "in": D, "hidden": H, "layers": layers,
                      "bidirectional": int(bidirectional), "sequence": int(sequence),
                      "learn_state": int(learn_state)}}
    state, extra = None, []
    if initial:
        h0, c0 = leaf(torch.randn(S, B, H)), leaf(torch.randn(S, B, H))
        state = (h0, c0) if lstm else h0
    if learn_state:  # one (S, H) state per layer and direction, shared by the batch
        h0p, c0p = leaf(0.5 * torch.randn(S, H)), leaf(0.5 * torch.randn(S, H))
        hb, cb = h0p[:, None, :].expand(S, B, H), c0p[:, None, :].expand(S, B, H)
        state = (hb, cb) if lstm else hb
        extra = [("h0", h0p)] + ([("c0", c0p)] if lstm else [])
    out, final = run(net, x, lengths, state, T)
    y = out if sequence else last_steps(out, lengths)
    R = f32(torch.randn(*y.shape))
    J = (y * R).sum()
    hn, cn = final if lstm else (final, None)
    if final_grads:
        Rh = f32(torch.randn(*hn.shape))
        J = J + (hn * Rh).sum()
        case["dhn"] = Rh
        if lstm:
            Rc = f32(torch.randn(*cn.shape))
            J = J + (cn * Rc).sum()
            case["dcn"] = Rc
    J.backward()
    case.update({"x": x, "y": y, "dy": R, "dx": x.grad, "hn": hn})
    if lstm:
        case["cn"] = cn
    if lengths is not None:
        case["lengths"] = np.array(lengths, dtype=np.int64)
    if initial:
        case["h0"], case["dh0"] = h0, h0.grad
        if lstm:
            case["c0"], case["dc0"] = c0, c0.grad
    case["params"], case["grads"], case["named"] = flat(list(net.named_parameters()) + extra)
    return case


def truncated_case(cell, D, H, layers, B, k):
    """Window 2 of a stream, from window 1's final states detached (truncated BPTT)."""
    net = stack(cell, D, H, layers, False)
    x1, x2 = leaf(torch.randn(B, k, D)), leaf(torch.randn(B, k, D))
    _, final = net(x1)
    final = tuple(s.detach() for s in final) if cell == "lstm" else final.detach()
    y2, _ = net(x2, final)
    R = f32(torch.randn(*y2.shape))
    (y2 * R).sum().backward()
    case = {"attrs": {"kind": "truncated", "cell": cell, "in": D, "hidden": H, "layers": layers,
                      "bidirectional": 0, "sequence": 1, "learn_state": 0},
            "x1": x1, "x2": x2, "y2": y2, "dy": R, "dx2": x2.grad}
    case["params"], case["grads"], case["named"] = flat(list(net.named_parameters()))
    return case


def embedding_gru_ce(V, E, H, C, B, T):
    """embedding -> GRU (every step) -> linear, mean cross-entropy over every step."""
    emb, gru, head = torch.nn.Embedding(V, E), stack("gru", E, H, 1, False), torch.nn.Linear(H, C)
    round_params(emb)
    round_params(head)
    ids = torch.randint(0, V, (B, T))
    out, _ = gru(emb(ids))
    y = head(out)
    tgt = torch.randint(0, C, (B, T))
    loss = F.cross_entropy(y.reshape(B * T, C), tgt.reshape(-1))
    loss.backward()
    named = [("1.weight", emb.weight)] + [("2." + n, p) for n, p in gru.named_parameters()] + \
            [("3.weight", head.weight), ("3.bias", head.bias)]
    case = {"attrs": {"kind": "model", "model": "embedding_gru_linear", "vocab": V, "size": E,
                      "hidden": H, "classes": C},
            "ids": ids.double(), "y": y, "target": tgt.double(), "loss": np.array(loss.item())}
    case["params"], case["grads"], case["named"] = flat(named)
    return case


def one_hot_lstm(V, H, C, B, T, lengths):
    """one-hot ids -> bidirectional 2-layer LSTM (every step) -> linear, with lengths; moonlab's
    model output is zero on padded steps, so the reference multiplies by the mask."""
    lstm, head = stack("lstm", V, H, 2, True), torch.nn.Linear(2 * H, C)
    round_params(head)
    ids = torch.randint(0, V, (B, T))
    mask = (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).double()
    out, _ = run(lstm, F.one_hot(ids, V).double(), lengths, None, T)
    y = head(out) * mask[:, :, None]
    R = f32(torch.randn(*y.shape))
    (y * R).sum().backward()
    ids = torch.where(mask > 0, ids.double(), torch.full_like(ids.double(), -1.0))
    named = [("2." + n, p) for n, p in lstm.named_parameters()] + \
            [("3.weight", head.weight), ("3.bias", head.bias)]
    case = {"attrs": {"kind": "model", "model": "one_hot_bilstm_linear", "vocab": V, "hidden": H,
                      "classes": C},
            "ids": ids, "lengths": np.array(lengths, dtype=np.int64), "y": y, "dy": R}
    case["params"], case["grads"], case["named"] = flat(named)
    return case


def encoder_decoder(D, H, C, M, B, T, lengths):
    """LSTM encoder (2 layers, lengths) -> its last step repeated M times -> LSTM decoder (2
    layers) from the encoder's final states -> linear on every step."""
    enc, dec, head = stack("lstm", D, H, 2, False), stack("lstm", H, H, 2, False), torch.nn.Linear(H, C)
    round_params(head)
    x = leaf(torch.randn(B, T, D))
    out, (hn, cn) = run(enc, x, lengths, None, T)
    summary = last_steps(out, lengths)
    dec_out, _ = dec(summary[:, None, :].expand(B, M, H), (hn, cn))
    y = head(dec_out)
    R = f32(torch.randn(*y.shape))
    (y * R).sum().backward()
    named = [("1." + n, p) for n, p in enc.named_parameters()] + \
            [("3." + n, p) for n, p in dec.named_parameters()] + \
            [("4.weight", head.weight), ("4.bias", head.bias)]
    case = {"attrs": {"kind": "model", "model": "encoder_decoder_lstm", "in": D, "hidden": H,
                      "classes": C, "steps": M},
            "x": x, "dx": x.grad, "lengths": np.array(lengths, dtype=np.int64), "y": y, "dy": R}
    case["params"], case["grads"], case["named"] = flat(named)
    return case


def cases():
    torch.manual_seed(2024)
    torch.set_default_dtype(torch.float64)
    return {
        # fixed lengths, one cell type at a time (the cases of the earlier Lua fixture)
        "rnn_tanh_2layers_last": stack_case("rnn", 3, 5, 2, 4, 6, False),
        "rnn_relu_sequence": stack_case("rnn_relu", 4, 3, 1, 3, 5, True),
        "gru_2layers_sequence": stack_case("gru", 3, 4, 2, 2, 5, True),
        "gru_last": stack_case("gru", 2, 6, 1, 3, 4, False),
        "lstm_2layers_last": stack_case("lstm", 3, 4, 2, 3, 7, False),
        "lstm_sequence": stack_case("lstm", 5, 3, 1, 2, 4, True),
        "rnn_initial_state": stack_case("rnn", 3, 4, 2, 3, 4, True, initial=True),
        "gru_initial_state": stack_case("gru", 2, 3, 2, 2, 5, False, initial=True),
        "lstm_initial_state": stack_case("lstm", 3, 4, 2, 3, 6, True, initial=True),
        "lstm_bidirectional_2layers": stack_case("lstm", 3, 4, 2, 3, 5, True, True, initial=True),
        "gru_bidirectional_last": stack_case("gru", 2, 3, 1, 2, 4, False, True),
        "rnn_bidirectional_2layers_last": stack_case("rnn", 3, 2, 2, 3, 4, False, True, initial=True),
        # variable lengths (pack_padded_sequence), 2 layers, both directions, initial states,
        # gradients flowing into the final states too
        "rnn_tanh_lengths_bidirectional": stack_case("rnn", 3, 4, 2, 4, 6, True, True, True,
                                                     [6, 2, 4, 1], final_grads=True),
        "rnn_relu_lengths_last": stack_case("rnn_relu", 3, 4, 2, 3, 5, False, False, True, [3, 5, 1]),
        "gru_lengths_bidirectional_last": stack_case("gru", 3, 4, 2, 4, 5, False, True, True,
                                                     [2, 5, 3, 4], final_grads=True),
        "gru_lengths_sequence": stack_case("gru", 2, 5, 2, 3, 6, True, False, True, [6, 1, 4]),
        "lstm_lengths_bidirectional": stack_case("lstm", 3, 4, 2, 3, 5, True, True, True,
                                                 [5, 3, 2], final_grads=True),
        "lstm_lengths_last": stack_case("lstm", 4, 3, 2, 4, 6, False, False, True, [1, 6, 4, 3],
                                        final_grads=True),
        # learnable initial states, shared by the batch
        "gru_learned_state_bidirectional_lengths": stack_case("gru", 3, 4, 2, 3, 5, True, True,
                                                              lengths=[5, 2, 4], learn_state=True),
        "lstm_learned_state": stack_case("lstm", 3, 4, 2, 3, 4, False, learn_state=True),
        # truncated BPTT: window 2 from window 1's detached states
        "lstm_truncated": truncated_case("lstm", 3, 4, 2, 3, 4),
        "gru_truncated": truncated_case("gru", 2, 5, 2, 2, 3),
        # models
        "embedding_gru_per_step_ce": embedding_gru_ce(7, 4, 5, 3, 3, 6),
        "one_hot_bilstm_lengths": one_hot_lstm(5, 3, 4, 3, 5, [5, 2, 3]),
        "encoder_decoder_lstm_lengths": encoder_decoder(3, 4, 3, 3, 3, 5, [5, 2, 4]),
    }


def write(path, all_cases):
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["generator"] = "tests/ref/recurrent_reference.py, PyTorch %s" % torch.__version__
        top = f.create_group("cases")
        for name, case in all_cases.items():
            g = top.create_group(name)
            for k, v in case.pop("attrs").items():
                g.attrs[k] = v
            named = case.pop("named")
            for k, v in case.items():
                data = np.asarray(v.detach().numpy() if isinstance(v, torch.Tensor) else v)
                # compact layout: the few numbers live in the object header (a small file)
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_layout(h5py.h5d.COMPACT)
                g.create_dataset(k, data=data, dcpl=dcpl)
            # where each named parameter lies in params and grads, for reading by eye
            g.attrs["param_names"] = [n for n in named]
            g.attrs["param_shapes"] = [",".join(str(d) for d in v.shape) for v, _ in named.values()]


def main():
    write(os.path.join(HERE, "recurrent.h5"), cases())


if __name__ == "__main__":
    main()

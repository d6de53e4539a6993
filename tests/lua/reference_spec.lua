-- Outputs, losses and every gradient against PyTorch 1.13, computed independently in double
-- precision by tests/ref/make_reference.py (fixture tests/ref/reference.lua). moonlab computes
-- in float32, so values agree to float32 rounding: |a - b| <= 1e-5 + 1e-4 |b|.
local ml = require "moonlab"
local T, nn = ml.tensor, ml.nn
local root = os.getenv("MOONLAB_ROOT") or "."
local ref = dofile(root .. "/tests/ref/reference.lua")

local function close(got, want, what)
  if type(want) == "table" then
    assert.are.equal(#want, #got, what .. ": length")
    for i = 1, #want do close(got[i], want[i], what .. "[" .. i .. "]") end
    return
  end
  local tol = 1e-5 + 1e-4 * math.abs(want)
  assert(math.abs(got - want) <= tol,
    string.format("%s: moonlab %.9g, PyTorch %.9g", what, got, want))
end

local function build(case)
  local layers = {}
  for i = 1, #case.sizes - 1 do
    layers[#layers + 1] = nn.linear(case.sizes[i], case.sizes[i + 1])
    if i < #case.sizes - 1 then layers[#layers + 1] = nn[case.act]() end
  end
  local model = nn.sequential(layers)
  for name, p in pairs(case.params) do
    local idx, kind = name:match("^(%d+)%.(%a+)$")
    model:layer(tonumber(idx))[kind]:copy(T.from(p.value))
  end
  return model
end

describe("against PyTorch", function()
  for name, case in pairs(ref.mlp) do
    it(name .. ": output, loss, input and parameter gradients", function()
      local model = build(case)
      local x = T.from(case.x)
      local out = model:forward(x)
      close(out:totable(), case.out, "output")
      local y = T.from(case.y)
      local w = case.weights and T.from(case.weights)
      local value, dpred = ml.loss.value(case.loss, out, y, { weights = w, reduce = case.reduce })
      close(value, case.value, "loss")
      model:zero_grad()
      local dx = model:backward(dpred, true)
      close(dx:totable(), case.dx, "input gradient")
      for pname, p in pairs(case.params) do
        local idx, kind = pname:match("^(%d+)%.(%a+)$")
        close(model:layer(tonumber(idx))["d" .. kind]:totable(), p.grad, pname .. " gradient")
      end
    end)
  end

  for name, case in pairs(ref.optim) do
    it("optimizer " .. name .. ": parameters after " .. #case.grads .. " steps", function()
      local o = case.opts
      local opts = { lr = o.lr, momentum = o.momentum, nesterov = o.nesterov,
        weight_decay = o.weight_decay, eps = o.eps }
      if o.betas then opts.beta1, opts.beta2 = o.betas[1], o.betas[2] end
      local opt = ml.optim[case.kind](opts)
      local p = T.from(case.p0)
      for _, g in ipairs(case.grads) do opt:step(p, T.from(g)) end
      close(p:totable(), case.p, "parameters")
    end)
  end
end)

describe("recurrent layers against PyTorch", function()
  for name, case in pairs(ref.rnn) do
    it(name .. ": outputs, final states, input, state and parameter gradients", function()
      local ctor = case.cell == "rnn_relu" and nn.rnn or nn[case.cell]
      local model = nn.sequential { ctor { ["in"] = case["in"], hidden = case.hidden,
        layers = case.layers, sequence = case.sequence, bidirectional = case.bidirectional,
        nonlinearity = case.cell == "rnn_relu" and "relu" or nil } }
      local params = model:layer(1).params
      for pname, p in pairs(case.params) do params[pname].value:copy(T.from(p.value)) end
      if case.h0 then model:set_state(1, T.from(case.h0), case.c0 and T.from(case.c0)) end
      local y = model:forward(T.from(case.x))
      close(y:totable(), case.y, "output")
      local hn, cn = model:final_state(1)
      close(hn:totable(), case.hn, "final hidden state")
      if case.cn then close(cn:totable(), case.cn, "final cell state") end
      model:zero_grad()
      local dx = model:backward(T.from(case.dy), true)
      close(dx:totable(), case.dx, "input gradient")
      if case.h0 then
        local dh0, dc0 = model:state_grad(1)
        close(dh0:totable(), case.dh0, "initial hidden state gradient")
        if case.dc0 then close(dc0:totable(), case.dc0, "initial cell state gradient") end
      end
      for pname, p in pairs(case.params) do
        close(params[pname].grad:totable(), p.grad, pname .. " gradient")
      end
    end)
  end
end)

describe("embedding + GRU + per-step cross-entropy against PyTorch", function()
  for name, case in pairs(ref.embedding) do
    it(name .. ": outputs, loss and every gradient (embedding rows included)", function()
      local model = nn.sequential { nn.embedding(case.vocab, case.size),
        nn.gru { hidden = case.hidden, sequence = true }, nn.linear(3) }
      local named = model:named_parameters()
      for pname, p in pairs(case.params) do named[pname]:copy(T.from(p.value)) end
      local y = model:forward(T.from(case.ids))
      close(y:totable(), case.y, "output")
      local value, dpred = ml.loss.value("cross_entropy", y, T.from(case.target))
      close(value, case.value, "loss")
      model:zero_grad()
      model:backward(dpred)
      local grads = {}
      grads["1.weight"] = model:layer(1).dweight
      for pname, p in pairs(model:layer(2).params) do grads["2." .. pname] = p.grad end
      grads["3.weight"], grads["3.bias"] = model:layer(3).dweight, model:layer(3).dbias
      for pname, p in pairs(case.params) do close(grads[pname]:totable(), p.grad, pname .. " gradient") end
    end)
  end
end)

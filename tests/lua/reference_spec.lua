-- Outputs, losses and every gradient of MLPs, and optimizer steps, against PyTorch 1.13,
-- computed independently in double precision by tests/ref/make_reference.py (fixture
-- tests/ref/reference.lua). moonlab computes in float32, so values agree to float32 rounding:
-- |a - b| <= 1e-5 + 1e-4 |b|. The recurrent networks' fixtures are HDF5
-- (tests/ref/recurrent.h5), compared by the C test tests/c/test_rnn_reference.c.
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

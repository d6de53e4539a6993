local ml = require "moonlab"
local optim, T = ml.optim, ml.tensor

describe("moonlab.optim", function()
  it("takes an SGD step p -= lr * g", function()
    local p, g = T.from { 1, 2 }, T.from { 0.5, -1 }
    optim.sgd { lr = 0.1 }:step(p, g)
    assert.is_near(0.95, p[1], 1e-7)
    assert.is_near(2.1, p[2], 1e-7)
  end)

  it("uses PyTorch's momentum: the buffer starts as the first gradient", function()
    local p, g = T.from { 0 }, T.from { 1 }
    local o = optim.sgd { lr = 1, momentum = 0.9 }
    o:step(p, g) -- v = 1
    o:step(p, g) -- v = 1.9
    assert.is_near(-2.9, p[1], 1e-6)
    assert.are.equal(2, o:steps())
  end)

  it("applies weight decay only where the mask says so", function()
    local p, g, mask = T.from { 1, 1 }, T.from { 0, 0 }, T.from { 1, 0 }
    optim.sgd { lr = 0.5, weight_decay = 0.2 }:step(p, g, mask)
    assert.is_near(0.9, p[1], 1e-7)
    assert.are.equal(1, p[2])
  end)

  it("moves each Adam parameter by about lr on the first step", function()
    local p, g = T.from { 0, 0 }, T.from { 3, -0.001 }
    optim.adam { lr = 0.01 }:step(p, g)
    assert.is_near(-0.01, p[1], 1e-6)
    assert.is_near(0.01, p[2], 1e-5)
  end)

  it("decays AdamW weights apart from the gradient", function()
    local p, g = T.from { 2 }, T.from { 0 }
    optim.adamw { lr = 0.1, weight_decay = 0.5 }:step(p, g)
    assert.is_near(2 * (1 - 0.05), p[1], 1e-6)
  end)

  it("refuses a parameter count different from the first step's", function()
    local o = optim.sgd {}
    o:step(T.zeros(3), T.zeros(3))
    assert.has_error(function() o:step(T.zeros(4), T.zeros(4)) end,
      "optim:step: sgd: optimizer was used for 3 parameters, now given 4")
  end)

  it("rejects negative rates and unknown optimizers", function()
    assert.has_error(function() optim.sgd { lr = -1 } end)
    assert.has_error(function() ml.core.optim.new { kind = "lbfgs" } end,
      "optim: unknown optimizer 'lbfgs' (sgd, adam, adamw)")
  end)

  it("clips by global norm and returns the norm before clipping", function()
    local g = T.from { 3, 4 }
    assert.is_near(5, optim.clip_grad_norm(g, 1), 1e-6)
    assert.is_near(1, g:norm(), 1e-5)
    local h = T.from { 0.3, 0.4 }
    optim.clip_grad_norm(h, 1)
    assert.is_near(0.5, h:norm(), 1e-7)
  end)

  it("computes step and cosine schedules by epoch", function()
    local s = optim.step { step_size = 2, gamma = 0.5 }
    assert.is_near(1, optim.schedule_lr(s, 1, 1), 1e-7)
    assert.is_near(1, optim.schedule_lr(s, 1, 2), 1e-7)
    assert.is_near(0.5, optim.schedule_lr(s, 1, 3), 1e-7)
    local c = optim.cosine { t_max = 10 }
    assert.is_near(1, optim.schedule_lr(c, 1, 1), 1e-7)
    assert.is_near(0.5, optim.schedule_lr(c, 1, 6), 1e-6)
    assert.is_near(0, optim.schedule_lr(c, 1, 11), 1e-6)
  end)

  it("sets the learning rate each epoch when fit has a schedule", function()
    local x = T.from { { 1 }, { 2 } }
    local m = ml.nn.sequential { ml.nn.linear(1, 1) }
    local h = m:fit { data = ml.data.dataset(x, x), loss = "mse", optim = optim.sgd { lr = 0.1 },
      epochs = 3, schedule = optim.step { step_size = 1, gamma = 0.1 } }
    assert.is_near(0.1, h[1].lr, 1e-8)
    assert.is_near(0.01, h[2].lr, 1e-9)
    assert.is_near(0.001, h[3].lr, 1e-10)
  end)
end)

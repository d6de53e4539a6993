local ml = require "moonlab"
local T, loss = ml.tensor, ml.loss

describe("moonlab.loss", function()
  it("uses the 1/2 convention for the squared loss, averaged over samples", function()
    local l, d = loss.value("mse", T.from { { 1, 2 }, { 0, 0 } }, T.from { { 0, 0 }, { 0, 2 } })
    -- sample 1: (1 + 4)/2 = 2.5; sample 2: 4/2 = 2; mean 2.25
    assert.is_near(2.25, l, 1e-7)
    assert.are.same({ { 0.5, 1 }, { 0, -1 } }, d:totable())
  end)

  it("computes cross-entropy from logits and counts correct rows", function()
    local l, d, correct = loss.value("cross_entropy", T.from { { 0, 0 }, { 10, 0 } }, T.from { 1, 0 })
    assert.is_near((math.log(2) + math.log(1 + math.exp(-10))) / 2, l, 1e-6)
    assert.is_near(-0.25, d:get(1, 2), 1e-6)
    assert.are.equal(1, correct) -- row 1 is a tie, argmax picks class 0
  end)

  it("divides weighted losses by the count or by the sum of weights, as asked", function()
    local pred, y, w = T.from { { 2 }, { 0 } }, T.from { { 0 }, { 0 } }, T.from { 3, 1 }
    assert.is_near(3, loss.value("mse", pred, y, { weights = w }), 1e-7)             -- 3*2 / 2
    assert.is_near(1.5, loss.value("mse", pred, y, { weights = w, reduce = "weighted_mean" }), 1e-7) -- 6 / 4
    assert.is_near(6, loss.value("mse", pred, y, { weights = w, reduce = "sum" }), 1e-7)
  end)

  it("stays finite for extreme logits", function()
    local l = loss.value("cross_entropy", T.from { { 1000, -1000 } }, T.from { 1 })
    assert.is_near(2000, l, 1e-3)
    local b = loss.value("bce_logits", T.from { { -1000 } }, T.from { { 1 } })
    assert.is_near(1000, b, 1e-3)
  end)

  it("names the row, or the sequence and step, of a bad class index", function()
    assert.has_error(function() loss.value("cross_entropy", T.zeros(2, 3), T.from { 0, 3 }) end,
      "loss: cross_entropy: target of row 2 is 3, expected a class index in [0, 3)")
    assert.has_error(function() loss.value("cross_entropy", T.zeros(2, 3), T.from { 0.5, 1 }) end)
    -- per-step targets (B, T): the sequence and the step, not the flattened row 5
    local steps = T.zeros(2, 3)
    steps:set(2, 2, 9)
    assert.has_error(function() loss.value("cross_entropy", T.zeros(2, 3, 4), steps) end,
      "loss: cross_entropy: target of sequence 2, step 2 is 9, expected a class index in [0, 4)")
    assert.has_error(function() loss.value("mse", T.zeros(2, 3), T.zeros(2, 2)) end,
      "loss: mse: target is (2,2), prediction (2,3)")
    assert.has_error(function() loss.value("hinge", T.zeros(2, 3), T.zeros(2, 2)) end,
      "loss: unknown loss 'hinge' (mse, cross_entropy, bce_logits)")
  end)
end)

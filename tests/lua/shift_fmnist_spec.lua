-- experiments/shift_fmnist.lua in smoke mode (a softmax regression on 10000 training images):
-- the combined test flags every shifted test set and neither the control (other held-out
-- training images) nor the clean one, concept shift is seen
-- only by the test that reads the labels, BBSE re-weighting recovers most of the accuracy that
-- re-weighting by the true priors recovers under label shift, and importance weighting most
-- of the loss that the true density ratio recovers under selection bias.
local h = require "helpers"
local core = require "moonlab.core"

describe("experiments/shift_fmnist.lua", function()
  local s, n = {}, 0
  local by = {}
  local split_attrs, split_rows = nil, {}
  setup(function()
    local d = h.tmpdir()
    local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 --out s.h5",
      h.root .. "/experiments/shift_fmnist.lua"), d)
    assert.are.equal(0, code, out .. err)
    local f = assert(core.rfile.open(d .. "/s.h5"))
    for _, c in ipairs(assert(f:table("/study/summary"))) do s[c.name] = c.values end
    -- the set that looks most like the source (highest combined p-value) is an unshifted one
    local sel = f:attrs("/").selected
    assert.is_true(sel == '{"shift":"same"}' or sel == '{"shift":"clean"}', sel)
    split_attrs = f:attrs("/study/splits")
    for _, k in ipairs({ "train", "val" }) do
      split_rows[k] = f:tensor("/study/splits/1/" .. k):totable()
    end
    f:close()
    n = #s.trial
    for i = 1, n do by[s.shift[i]] = i end
  end)

  it("has one finished trial per shift", function()
    assert.are.equal(8, n)
    for _, k in ipairs({ "same", "clean", "noise", "invert", "selection", "tweak_one", "dirichlet", "swap" }) do
      assert.is_number(by[k], k)
      assert.are.equal("done", s.status[by[k]])
    end
  end)

  it("records its holdout: 50000 training and 10000 held-out rows, disjoint, with the seed", function()
    assert.are.equal("holdout", split_attrs.kind)
    assert.are.equal(60000, split_attrs.samples)
    assert.are.equal(10000, split_attrs.test)
    assert.is_number(split_attrs.seed)
    assert.are.equal(50000, #split_rows.train)
    assert.are.equal(10000, #split_rows.val)
    local seen = {}
    for _, k in ipairs({ "train", "val" }) do
      for _, r in ipairs(split_rows[k]) do
        assert.is_nil(seen[r], "row " .. r)
        seen[r] = true
      end
    end
  end)

  it("flags every shifted test set and neither the control nor the clean one", function()
    for i = 1, n do
      if s.shift[i] == "same" or s.shift[i] == "clean" then
        assert.is_true(s.p_value[i] >= 0.05, s.shift[i] .. ": p " .. s.p_value[i])
        assert.are.equal(0, s.flagged[i])
      else
        assert.is_true(s.p_value[i] < 0.05, s.shift[i] .. ": p " .. s.p_value[i])
        assert.are.equal(1, s.flagged[i])
      end
    end
  end)

  it("sees the concept shift only with the labels, and the shifts cost accuracy", function()
    local i = by.swap
    assert.is_true(s.p_errors[i] < 0.01, "errors p " .. s.p_errors[i])
    local unlabeled = math.min(s.p_ks[i], s.p_chi2[i], s.p_mmd[i], s.p_classifier[i])
    assert.is_true(unlabeled * 4 >= 0.05, "unlabeled tests p " .. unlabeled)
    local clean = s.accuracy[by.clean]
    for _, k in ipairs({ "noise", "invert", "tweak_one", "swap" }) do
      assert.is_true(s.accuracy[by[k]] < clean - 0.05, k .. " " .. s.accuracy[by[k]] .. " vs " .. clean)
    end
    assert.is_true(s.accuracy[by.invert] < 0.3)
  end)

  it("re-weights by BBSE to most of the accuracy the true priors give", function()
    for _, k in ipairs({ "tweak_one", "dirichlet" }) do
      local i = by[k]
      assert.is_true(s.accuracy_oracle[i] > s.accuracy[i] + 0.02, k)
      assert.is_true(s.accuracy_bbse[i] > s.accuracy[i], k)
      assert.is_true(s.recovered[i] > 0.5, k .. " recovers " .. s.recovered[i])
    end
  end)

  it("re-trains with importance weights to most of the loss the true density ratio gives", function()
    local i = by.selection
    assert.is_true(s.loss_iw[i] < s.loss[i], s.loss_iw[i] .. " vs " .. s.loss[i])
    assert.is_true(s.recovered[i] > 0.5, "recovers " .. s.recovered[i])
  end)
end)

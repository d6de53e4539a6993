--- Layers and models. Layers are descriptions (plain tables); nn.sequential builds the model in
--- C (one flat parameter buffer) and initialises it from a seed. model:fit runs the training
--- loop in C one epoch at a time; Lua only sees each epoch's numbers.
local core = require "moonlab.core"
local run = require "moonlab.run"
local optim = require "moonlab.optim"

local nn = {}

--- nn.linear(in, out) / nn.linear(out) / nn.linear{in =, out =, bias = true, init =, bias_init =}
function nn.linear(a, b)
  if type(a) == "table" then
    local s = { kind = "linear" }
    for k, v in pairs(a) do s[k] = v end
    return s
  end
  if b == nil then return { kind = "linear", out = a } end
  return { kind = "linear", ["in"] = a, out = b }
end

function nn.relu() return { kind = "relu" } end
function nn.sigmoid() return { kind = "sigmoid" } end
function nn.tanh() return { kind = "tanh" } end
function nn.softmax() return { kind = "softmax" } end
function nn.log_softmax() return { kind = "log_softmax" } end
function nn.identity() return { kind = "identity" } end
--- nn.dropout(p): zeroes each activation with probability p in training mode, scales the rest
--- by 1/(1-p); identity in evaluation mode.
function nn.dropout(p)
  if type(p) == "table" then p = p.p end
  return { kind = "dropout", p = p or 0.5 }
end

--- Recurrent layers over sequences (B, T, D), PyTorch's cells and parameter layout:
--- nn.lstm{hidden = 128, layers = 2, sequence = false [, in = D]}, nn.gru{...},
--- nn.rnn{..., nonlinearity = "tanh" | "relu"}. sequence = false gives the last step (B, H),
--- true every step (B, T, H). Parameters: model:layer(i).params.weight_ih_l0 etc.
--- learn_initial_state = true: h0 (and c0) are parameters (layers·dirs, H) shared by every
--- sequence (params.h0, params.c0). state_from = i: start from layer i's final states
--- (an encoder's), the gradient flowing back into them.
local function recurrent(kind)
  return function(o)
    if type(o) ~= "table" then error(kind .. ": expected a table {hidden = H, ...}", 2) end
    local s = { kind = kind }
    for k, v in pairs(o) do s[k] = v end
    if kind == "rnn" and o.nonlinearity == "relu" then s.kind = "rnn_relu" end
    s.nonlinearity = nil
    if type(s.hidden) ~= "number" or s.hidden < 1 then
      error(kind .. ": 'hidden' must be a positive integer", 2)
    end
    return s
  end
end
nn.lstm = recurrent("lstm")
nn.gru = recurrent("gru")
nn.rnn = recurrent("rnn")

--- nn.embedding(vocab, size): ids (B, T), integers 0..vocab-1 stored as numbers, to vectors
--- (B, T, size); the weight (vocab, size) is PyTorch's nn.Embedding weight, initialised N(0, 1).
--- Only the rows a batch uses receive gradient. It must be the first layer.
function nn.embedding(vocab, size)
  if type(vocab) == "table" then vocab, size = vocab.vocab, vocab.size end
  return { kind = "embedding", ["in"] = vocab, out = size }
end

--- nn.one_hot(vocab): ids (B, T) to one-hot vectors (B, T, vocab). Directly before a recurrent
--- layer nothing is built: that layer reads the ids and gathers the columns of W_ih they select
--- (the same numbers as the dense vectors). It must be the first layer; it has no parameters.
function nn.one_hot(vocab)
  if type(vocab) == "table" then vocab = vocab.vocab end
  return { kind = "one_hot", ["in"] = vocab }
end

--- nn.repeat_steps(steps): a vector (B, F) to the same vector at each of `steps` steps
--- (B, steps, F), for 1->N models and for decoders (nn.encoder_decoder).
function nn.repeat_steps(steps)
  if type(steps) == "table" then steps = steps.steps end
  return { kind = "repeat", out = steps }
end

--- nn.encoder_decoder{encoder = nn.gru{hidden = H, ...}, decoder = nn.gru{hidden = H, ...},
---   steps = M [, input = nn.embedding(V, E) | nn.one_hot(V)] [, output = {layer, ...} or layer]}
--- -> the list of layers of an N -> M model for nn.sequential: [input,] the encoder (its last
--- step), repeated over M steps, the decoder over them (every step) starting from the
--- encoder's final states, [output layers]. The decoder reads the encoder's summary at every
--- step; its states start where the encoder's ended (the gradient flows back into them). The
--- encoder and decoder need states of the same shape (layers, directions, hidden; LSTM with LSTM).
function nn.encoder_decoder(o)
  if type(o) ~= "table" or type(o.encoder) ~= "table" or type(o.decoder) ~= "table" then
    error("encoder_decoder: expected {encoder = nn.gru{...}, decoder = nn.gru{...}, steps = M}", 2)
  end
  if math.type(o.steps) ~= "integer" or o.steps < 1 then
    error("encoder_decoder: 'steps' must be a positive integer, got " .. tostring(o.steps), 2)
  end
  local layers = {}
  if o.input then layers[#layers + 1] = o.input end
  local enc, dec = {}, {}
  for k, v in pairs(o.encoder) do enc[k] = v end
  for k, v in pairs(o.decoder) do dec[k] = v end
  enc.sequence = false
  layers[#layers + 1] = enc
  layers[#layers + 1] = nn.repeat_steps(o.steps)
  dec.sequence = true
  dec.state_from = #layers - 1
  layers[#layers + 1] = dec
  local out = o.output
  if out and out.kind then out = { out } end
  for _, l in ipairs(out or {}) do layers[#layers + 1] = l end
  return layers
end

local Model = {}
Model.__index = Model
nn.Model = Model

--- nn.sequential({layer, ...} [, {seed = N}]) -> model, initialised. Without a seed, the n-th
--- model a run builds (in a study, the n-th of the trial) gets the seed derived from the root
--- seed by ("model", n).
function nn.sequential(layers, opts)
  if type(layers) ~= "table" then
    error("sequential: expected a list of layers, got " .. type(layers), 2)
  end
  opts = opts or {}
  run.models = run.models + 1
  local seed = opts.seed or run.seed("model", run.models)
  local ok, c = pcall(core.model.new, layers)
  if not ok then error(c, 2) end
  c:init(seed)
  return setmetatable({ core = c, layers = layers, seed = seed }, Model)
end

--- model:forward(x [, lengths]): lengths (B) are each sequence's number of real steps.
function Model:forward(x, lengths) return self.core:forward(x, lengths) end
function Model:backward(dy, want_dx) return self.core:backward(dy, want_dx) end
function Model:zero_grad() self.core:zero_grad() end
--- Forward pass in evaluation mode (dropout off); lengths as for forward.
function Model:predict(x, lengths)
  local was = self.core:train_mode()
  self.core:train_mode(false)
  local ok, y = pcall(self.core.forward, self.core, x, lengths)
  self.core:train_mode(was)
  if not ok then error(y, 2) end
  return y
end
function Model:train(on) return self.core:train_mode(on == nil and true or on) end
--- Flat views of every parameter / gradient (writes go into the model).
function Model:parameters() return self.core:params() end
function Model:gradients() return self.core:grads() end
--- Layer i: {kind, in, out, nparams, weight, bias, dweight, dbias} (views into the model).
function Model:layer(i) return self.core:layer(i) end
function Model:info() return self.core:info() end
--- Recurrent layer i's states: set_state(i, h0 [, c0]) for the following forward passes (nil:
--- zeros), final_state(i) -> h_n [, c_n], state_grad(i) -> dh0 [, dc0]; all (layers, B, H).
function Model:set_state(i, h0, c0) self.core:set_state(i, h0, c0) end
function Model:final_state(i) return self.core:final_state(i) end
function Model:state_grad(i) return self.core:state_grad(i) end
--- Truncated BPTT by hand: carry_state(true) makes every recurrent layer start each forward
--- from the previous forward's final states, as values (detached: a backward stops at the
--- window's first step); returns the previous setting. reset_state() returns every recurrent
--- layer to its initial states (zeros, or the learned ones), dropping carried or set states.
function Model:carry_state(on) return self.core:carry_state(on) end
function Model:reset_state() self.core:reset_state() end
--- model:generate(prime, steps [, {temperature = 0, rng =}]) -> ids (B, steps): for a model
--- that reads ids (embedding or one_hot first) and gives logits over them on every step, read
--- prime (B, P) from the initial states, then feed each picked id back as the next input
--- (1 -> N by feeding back the output). temperature 0 picks the most likely id; > 0 samples
--- from softmax(logits / temperature) with rng (default: the stream ml.rng("generate")).
function Model:generate(prime, steps, o)
  o = o or {}
  local t = o.temperature or 0
  local rng = o.rng
  if t > 0 and not rng then rng = core.rng.new(run.seed("generate")) end
  local ok, ids = pcall(self.core.generate, self.core, prime, steps, t, rng)
  if not ok then error(ids, 2) end
  return ids
end
function Model:__tostring() return tostring(self.core) end
function Model:close() self.core:close() end
Model.__close = Model.close

--- Parameters by name: {["1.weight"] = view, ["1.bias"] = view, ...} (layer index, PyTorch-like).
function Model:named_parameters()
  local out, names = {}, {}
  for i = 1, self.core:info().layers do
    local l = self.core:layer(i)
    if l.params then
      local pn = {}
      for name in pairs(l.params) do pn[#pn + 1] = name end
      -- PyTorch's order: by layer, forward before _reverse, then the learnable states
      local function key(name)
        if name == "h0" or name == "c0" then return 1e9, name == "h0" and 1 or 2 end
        local base, l, rev = name:match("^(.-)_l(%d+)(.*)$")
        local order = { weight_ih = 1, weight_hh = 2, bias_ih = 3, bias_hh = 4 }
        return tonumber(l) * 2 + (rev ~= "" and 1 or 0), order[base]
      end
      table.sort(pn, function(a, b)
        local a1, a2 = key(a)
        local b1, b2 = key(b)
        if a1 ~= b1 then return a1 < b1 end
        return a2 < b2
      end)
      for _, name in ipairs(pn) do
        out[i .. "." .. name] = l.params[name].value
        names[#names + 1] = i .. "." .. name
      end
    end
    if l.weight then
      out[i .. ".weight"] = l.weight
      names[#names + 1] = i .. ".weight"
      if l.bias then
        out[i .. ".bias"] = l.bias
        names[#names + 1] = i .. ".bias"
      end
    end
  end
  return out, names
end

local function dataset_args(ds, where)
  if type(ds) ~= "table" or not ds.x or not ds.y then
    error(where .. ": expected a dataset {x = tensor, y = tensor} (data.dataset(x, y))", 3)
  end
  return ds
end

--- model:evaluate(ds, loss [, {batch =, reduce =, carry_state =}]) -> {loss =, accuracy =, samples =}
--- A stream dataset (data.stream) is read in its batches of windows with the states carried
--- from batch to batch (from the initial states), unless carry_state = false.
function Model:evaluate(ds, loss, opts)
  dataset_args(ds, "evaluate")
  opts = opts or {}
  local carry = opts.carry_state
  if carry == nil then carry = ds.stream ~= nil end
  local batch = opts.batch or (ds.stream and ds.stream.batch) or 1024
  if carry and ds.stream and batch ~= ds.stream.batch then
    error("evaluate: a stream dataset is read in batches of its " .. ds.stream.batch
      .. " streams; got batch = " .. tostring(batch), 2)
  end
  local was = self.core:carry_state(carry)
  local ok, r = pcall(self.core.evaluate, self.core, {
    x = ds.x, y = ds.y, weights = ds.weights, lengths = ds.lengths, rows = ds.rows, loss = loss,
    reduce = opts.reduce, batch = batch })
  self.core:carry_state(was)
  if not ok then error(r, 2) end
  return r
end

local function check_opts(o)
  local known = { data = 1, loss = 1, optim = 1, batch = 1, epochs = 1, shuffle = 1, seed = 1,
    clip = 1, schedule = 1, eval = 1, on_epoch = 1, log = 1, nonfinite = 1, reduce = 1,
    eval_batch = 1, checkpoint = 1, carry_state = 1 }
  for k in pairs(o) do
    if not known[k] then error("fit: unknown option '" .. tostring(k) .. "'", 3) end
  end
  if type(o.epochs) ~= "number" or o.epochs < 1 or math.type(o.epochs) ~= "integer" then
    error("fit: 'epochs' must be a positive integer, got " .. tostring(o.epochs), 3)
  end
  if o.nonfinite ~= nil and o.nonfinite ~= "stop" and o.nonfinite ~= "continue" then
    error("fit: 'nonfinite' must be \"stop\" or \"continue\", got " .. tostring(o.nonfinite), 3)
  end
  if type(o.optim) ~= "userdata" then
    error("fit: 'optim' must be an optimizer such as optim.sgd{lr = 0.01}", 3)
  end
end

-- The recurrent layers (their indices), whose carried states a checkpoint inside an epoch keeps.
local function recurrent_layers(self)
  local out = {}
  for i = 1, self.core:info().layers do
    if self.core:layer(i).hidden then out[#out + 1] = i end
  end
  return out
end

-- Checkpoints of a fit: parameters, optimizer state, the dropout stream, the epochs done and
-- the history so far, written atomically as HDF5; inside an epoch also the steps done in the
-- next one, its running sums (part) and, when states are carried, each recurrent layer's
-- states. The batch order of an epoch depends only on the seed and the epoch, so a fit resumed
-- from a checkpoint continues bit-identically.
local function ck_save(self, o, file, epoch, history, part, carry)
  local results = require "moonlab.results"
  local w, err = core.results.create(file)
  if not w then error("fit: checkpoint: " .. err, 3) end
  local ok, e = pcall(function()
    w:tensor("/params", self.core:params())
    local st = o.optim:state()
    w:attr("/", "optim_t", st.t)
    if st.m then w:tensor("/optim/m", st.m) end
    if st.v then w:tensor("/optim/v", st.v) end
    w:attr("/", "lr", o.optim:lr())
    w:attr("/", "epoch", epoch)
    w:attr("/", "epochs", o.epochs)
    for i, v in ipairs(self.core:rng_state()) do w:attr("/", "rng" .. i, v) end
    if #history > 0 then w:table("/history", #history, results.columns_of(history)) end
    w:attr("/", "step", part and part.steps or 0)
    if part then
      w:attr("/", "part_samples", part.samples)
      w:attr("/", "part_loss_sum", part.loss_sum + 0.0)
      w:attr("/", "part_correct", part.correct + 0.0)
      w:attr("/", "part_grad_norm", part.grad_norm + 0.0)
      w:attr("/", "part_seconds", part.seconds + 0.0)
      for _, i in ipairs(carry and recurrent_layers(self) or {}) do
        local h, c = self.core:final_state(i)
        w:tensor("/carry/" .. i .. "/h", h)
        if c then w:tensor("/carry/" .. i .. "/c", c) end
      end
    end
  end)
  if not ok then w:abort() error("fit: checkpoint " .. file .. ": " .. tostring(e), 3) end
  local cok, cerr = w:commit()
  if not cok then error("fit: checkpoint: " .. cerr, 3) end
end

-- The saved state, or nil when there is no checkpoint file yet.
local function ck_load(self, o, file)
  local f = io.open(file, "r")
  if not f then return nil end
  f:close()
  local r, err = core.rfile.open(file)
  if not r then error("fit: checkpoint: " .. err, 3) end
  local function need(v, e)
    if v == nil then r:close() error("fit: checkpoint " .. file .. ": " .. tostring(e), 4) end
    return v
  end
  local a = need(r:attrs("/"))
  local params = need(r:tensor("/params"))
  local own = self.core:params()
  if params:size(1) ~= own:size(1) then
    r:close()
    error(string.format("fit: checkpoint %s holds %d parameters but the model has %d", file,
      params:size(1), own:size(1)), 3)
  end
  local st = { t = a.optim_t }
  if r:kind("/optim/m") then st.m = need(r:tensor("/optim/m")) end
  if r:kind("/optim/v") then st.v = need(r:tensor("/optim/v")) end
  local cols = a.epoch > 0 and need(r:table("/history")) or {}
  local part, states = nil, {}
  if (a.step or 0) > 0 then
    part = { steps = a.step, samples = a.part_samples, loss_sum = a.part_loss_sum,
      correct = a.part_correct, grad_norm = a.part_grad_norm, seconds = a.part_seconds }
    for _, i in ipairs(recurrent_layers(self)) do
      if r:kind("/carry/" .. i .. "/h") then
        local c = r:kind("/carry/" .. i .. "/c") and need(r:tensor("/carry/" .. i .. "/c")) or nil
        states[i] = { need(r:tensor("/carry/" .. i .. "/h")), c }
      end
    end
  end
  r:close()
  local history = {}
  for i = 1, a.epoch do
    local row = {}
    for _, c in ipairs(cols) do
      local v = c.values[i]
      if not (c.type == "float" and v ~= v) then row[c.name] = v end
    end
    history[i] = row
  end
  own:copy(params)
  o.optim:set_state(st)
  o.optim:lr(a.lr)
  local rng = {}
  for i = 1, 7 do rng[i] = a["rng" .. i] end
  self.core:set_rng_state(rng)
  for i, hc in pairs(states) do self.core:set_state(i, hc[1], hc[2]) end
  return a.epoch, history, part
end

--- model:fit{data =, loss =, optim =, epochs =, batch = 32, shuffle = true, seed =,
---           clip =, schedule =, eval = {name = dataset, ...}, on_epoch = fn(row),
---           log = run, nonfinite = "stop", carry_state =,
---           checkpoint = {path =, every = 1, seconds =}} -> history (list of per-epoch rows)
--- Each row: epoch, loss (mean training loss the optimizer saw), accuracy (classification),
--- <name>_loss / <name>_accuracy for every eval set, lr, grad_norm, seconds.
--- Sequences with ds.lengths: only real steps count in per-step losses. A stream dataset
--- (data.stream) trains by truncated BPTT: its batches of windows in order, the recurrent
--- states carried from batch to batch (detached) and reset at each epoch's start;
--- carry_state = false turns the carrying off, carry_state = true turns it on for any data
--- read in order (shuffle = false).
--- With checkpoint, the state is saved to <path>-<k>.h5 (k counts the fits using that table)
--- every `every` epochs, at the end, and once `seconds` seconds have passed since the last save,
--- then at the next batch boundary, inside an epoch too; a fit that finds its file resumes
--- from it (inside an epoch: at the step after the saved one).
function Model:fit(o)
  check_opts(o)
  local ds = dataset_args(o.data, "fit")
  local stream = ds.stream
  local carry = o.carry_state
  if carry == nil then carry = stream ~= nil end
  if carry and o.shuffle then
    error("fit: carried states need the batches in order; shuffle must be false", 2)
  end
  local batch = o.batch or (stream and stream.batch) or 32
  if carry and stream and batch ~= stream.batch then
    error("fit: a stream dataset is read in batches of its " .. stream.batch
      .. " streams; got batch = " .. tostring(batch), 2)
  end
  local shuffle = o.shuffle ~= false and not carry
  local seed = o.seed or (self.seed ~ 0x5eed)
  local base_lr = o.optim:lr()
  local classify = o.loss == "cross_entropy" or o.loss == "bce_logits"
  local eval_names = {}
  for name in pairs(o.eval or {}) do eval_names[#eval_names + 1] = name end
  table.sort(eval_names)
  local history = {}
  local first = 1
  local part -- the running sums of an epoch stopped inside, to continue
  local ck, ck_file, ck_last = o.checkpoint, nil, core.clock()
  if ck then
    if type(ck) ~= "table" or type(ck.path) ~= "string" then
      error("fit: 'checkpoint' must be a table {path =, every =, seconds =}", 2)
    end
    if ck.seconds ~= nil and (type(ck.seconds) ~= "number" or not (ck.seconds >= 0)) then
      error("fit: checkpoint 'seconds' must be a number >= 0, got " .. tostring(ck.seconds), 2)
    end
    ck.calls = (ck.calls or 0) + 1
    ck_file = string.format("%s-%d.h5", ck.path, ck.calls)
    local epoch, saved
    epoch, saved, part = ck_load(self, o, ck_file)
    if epoch then
      history, first = saved, epoch + 1
      if ck.on_resume then ck.on_resume(epoch, ck_file, part and part.steps or 0) end
      for _, row in ipairs(history) do
        if o.log then o.log:log(row) end
      end
    end
  end
  for epoch = first, o.epochs do
    if o.schedule then o.optim:lr(optim.schedule_lr(o.schedule, base_lr, epoch)) end
    local t0 = core.clock() - (part and part.seconds or 0)
    local st
    repeat -- the epoch, in parts when time checkpoints fall inside it
      local budget = math.huge
      if ck and ck.seconds then budget = math.max(0, ck.seconds - (core.clock() - ck_last)) end
      local was = self.core:carry_state(carry)
      local s, msg, why = self.core:train_epoch{
        x = ds.x, y = ds.y, weights = ds.weights, lengths = ds.lengths, rows = ds.rows,
        loss = o.loss, reduce = o.reduce, optim = o.optim, batch = batch, shuffle = shuffle,
        seed = seed, epoch = epoch, clip = o.clip, allow_nonfinite = o.nonfinite == "continue",
        from = part, seconds = budget }
      self.core:carry_state(was)
      if not s then
        if why == "nonfinite" then
          error("fit: " .. msg .. " (lower the learning rate, clip gradients, or pass nonfinite = \"continue\")", 2)
        end
        error("fit: " .. msg, 2)
      end
      if s.done then
        st, part = s, nil
      else
        part = s
        part.seconds = core.clock() - t0
        ck_save(self, o, ck_file, epoch - 1, history, part, carry)
        ck_last = core.clock()
      end
    until st
    local row = { epoch = epoch, loss = st.loss, lr = o.optim:lr(), grad_norm = st.grad_norm }
    if classify then row.accuracy = st.accuracy end
    for _, name in ipairs(eval_names) do
      local ev = self:evaluate(o.eval[name], o.loss, { batch = o.eval_batch })
      row[name .. "_loss"] = ev.loss
      if classify then row[name .. "_accuracy"] = ev.accuracy end
    end
    row.seconds = core.clock() - t0
    history[#history + 1] = row
    if o.log then o.log:log(row) end
    if o.on_epoch then o.on_epoch(row) end
    if ck and (epoch % (ck.every or 1) == 0 or (ck.seconds and core.clock() - ck_last >= ck.seconds)
        or epoch == o.epochs) then
      ck_save(self, o, ck_file, epoch, history)
      ck_last = core.clock()
    end
  end
  return history
end

return nn

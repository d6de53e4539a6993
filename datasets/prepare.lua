-- Converts the real data sets that reload faster from HDF5 to HDF5, once, under the cache
-- directory (ml.data.cache_dir(): $MOONLAB_CACHE, else $XDG_CACHE_HOME/moonlab, else
-- ~/.cache/moonlab), and times a reload from each source:
--   build/moonlab run datasets/prepare.lua [--set cache=DIR] [--set repeats=5]
-- The loaders use a copy only when it was made from the very files installed now (their
-- paths, sizes and modification times are kept in the copy); delete the directory to undo.
local ml = require "moonlab"
local cfg = ml.config { cache = "", repeats = 5 }
local cache = cfg.cache ~= "" and cfg.cache or ml.data.cache_dir()

for _, path in ipairs(ml.data.prepare("fashion_mnist", { cache = cache })) do
  print("wrote " .. path)
end

-- CPU seconds (median of `repeats`) to load both Fashion-MNIST splits, from IDX and from HDF5.
local function median_cpu(load)
  local times = {}
  for i = 1, cfg.repeats do
    collectgarbage()
    local t0 = os.clock()
    load()
    times[i] = os.clock() - t0
  end
  table.sort(times)
  return times[(#times + 1) // 2]
end
local function both(o)
  return function()
    for _, split in ipairs { "train", "test" } do
      local ds = ml.data.fashion_mnist { split = split, cache = o }
      assert(ds.n > 0)
    end
  end
end
local idx = median_cpu(both(false))
local h5 = median_cpu(both(cache))
print(string.format("fashion_mnist, both splits, CPU seconds (median of %d): gzip IDX %.3f, HDF5 %.3f (%.1fx)",
  cfg.repeats, idx, h5, idx / h5))
local r = ml.results.run("fashion_mnist")
r:metrics { idx_cpu_seconds = idx, hdf5_cpu_seconds = h5 }

-- Argo CD health check of serving.glidepath.io/ModelDeployment.
--
-- Install as argocd-cm `resource.customizations.health.serving.glidepath.io_ModelDeployment`
-- (see docs/argocd.md). Argo CD runs it (gopher-lua, Lua 5.1) with the live object as `obj`.
--
--   status.observedGeneration < metadata.generation -> Progressing (the operator has not seen the
--                                                      latest spec yet: its phase is stale)
--   phase Healthy                                   -> Healthy
--   phase Progressing, or no status/phase yet       -> Progressing
--   phase Paused (canary waits for promote)         -> Suspended
--   phase RolledBack, Degraded                      -> Degraded
--   any other phase                                 -> Unknown
-- The message is the status' own words: the deciding condition's message, the canary's progress.

local function condition(status, type_)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function condition_message(status, type_)
  local c = condition(status, type_)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return nil
end

local function canary_progress(status)
  local canary = status.canary
  if canary == nil then
    return nil
  end
  local parts = {}
  if canary.version ~= nil then
    table.insert(parts, "canary version " .. tostring(canary.version))
  else
    table.insert(parts, "canary")
  end
  if canary.weight ~= nil then
    table.insert(parts, "at " .. tostring(canary.weight) .. "% of traffic")
  end
  if canary.step ~= nil then
    table.insert(parts, "step " .. tostring(canary.step))
  end
  local text = table.concat(parts, " ")
  if canary.message ~= nil and canary.message ~= "" then
    text = text .. ": " .. canary.message
  end
  return text
end

-- The non-empty messages among the candidates joined by "; " (duplicates once), else the fallback.
local function join(fallback, ...)
  local parts, seen = {}, {}
  local n = select("#", ...)
  for i = 1, n do
    local m = select(i, ...)
    if m ~= nil and m ~= "" and not seen[m] then
      table.insert(parts, m)
      seen[m] = true
    end
  end
  if #parts == 0 then
    return fallback
  end
  return table.concat(parts, "; ")
end

-- The first non-empty message among the candidates, else the fallback.
local function first(fallback, ...)
  local n = select("#", ...)
  for i = 1, n do
    local m = select(i, ...)
    if m ~= nil and m ~= "" then
      return m
    end
  end
  return fallback
end

local function stable_summary(status)
  local stable = status.stable
  if stable == nil then
    return nil
  end
  local text = "model version " .. tostring(stable.version)
  if stable.readyReplicas ~= nil and stable.replicas ~= nil then
    text = text .. ", " .. tostring(stable.readyReplicas) .. "/" .. tostring(stable.replicas) .. " pods ready"
  end
  return text
end

local function health(obj)
  local hs = {}
  local status = obj.status
  local generation = 0
  if obj.metadata ~= nil and obj.metadata.generation ~= nil then
    generation = obj.metadata.generation
  end

  if status == nil then
    hs.status = "Progressing"
    hs.message = "Waiting for the Glidepath operator to reconcile this ModelDeployment"
    return hs
  end
  if status.observedGeneration == nil or status.observedGeneration < generation then
    hs.status = "Progressing"
    hs.message = "Waiting for the Glidepath operator to observe generation " .. tostring(generation)
    if status.observedGeneration ~= nil then
      hs.message = hs.message .. " (status is of generation " .. tostring(status.observedGeneration) .. ")"
    end
    return hs
  end

  local phase = status.phase
  if phase == "Healthy" then
    hs.status = "Healthy"
    hs.message = first("Ready", stable_summary(status), condition_message(status, "Ready"))
  elseif phase == "Progressing" or phase == nil then
    hs.status = "Progressing"
    hs.message = join(
      "Progressing",
      canary_progress(status),
      condition_message(status, "Progressing"),
      condition_message(status, "Ready")
    )
  elseif phase == "Paused" then
    hs.status = "Suspended"
    hs.message = first("Paused: waiting for promote", canary_progress(status), condition_message(status, "Progressing"))
  elseif phase == "RolledBack" then
    hs.status = "Degraded"
    hs.message = "Rolled back: "
      .. first("traffic is back on the stable revision", condition_message(status, "Degraded"), canary_progress(status))
  elseif phase == "Degraded" then
    hs.status = "Degraded"
    hs.message = first("Degraded", condition_message(status, "Degraded"), condition_message(status, "Ready"))
  else
    hs.status = "Unknown"
    hs.message = "Unknown phase " .. tostring(phase)
  end
  return hs
end

return health(obj)

local enroller = require("enroller")
return enroller.rule {
  name = "gc", description = "d", match = function(c) return true end,
  apps = function(c)
    setmetatable({}, { __gc = function() while true do end end })
  end,
}

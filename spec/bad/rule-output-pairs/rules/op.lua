local enroller = require("enroller")
return enroller.rule {
  name = "op", description = "d", match = function(c) return true end,
  apps = function(c)
    return { setmetatable({ name = 'a', uri = 'http://h' }, { __pairs = function() while true do end end }) }
  end,
}

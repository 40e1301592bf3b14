local enroller = require("enroller")
return enroller.rule {
  name = "pc", description = "d", match = function(c) return true end,
  apps = function(c)
    while true do pcall(function() while true do end end) end
  end,
}

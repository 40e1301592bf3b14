local enroller = require("enroller")
return enroller.rule {
  name = "rep", description = "d", match = function(c) return true end,
  apps = function(c)
    local s = ('x'):rep(1 << 16) while true do local y = s:rep(16) end
  end,
}

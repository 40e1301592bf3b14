local enroller = require("enroller")
return enroller.rule {
  name = "big", description = "d", match = function(c) return true end,
  apps = function(c)
    return { { name = 'big', uri = 'http://' .. c:ip(), description = ('d'):rep(1 << 20) } }
  end,
}

local enroller = require("enroller")
return enroller.rule {
  name = "nul", description = "d", match = function(c) return true end,
  apps = function(c)
    return { { name = 'nul', uri = 'http://' .. c:ip() .. '/a\0b' } }
  end,
}

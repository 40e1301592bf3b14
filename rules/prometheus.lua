-- prometheus.lua: one Teleport app per Prometheus server container (images
-- prom/prometheus and quay.io/prometheus/prometheus, any tag).
--
-- The app is http://<container ip>:9090 (or the port in the label
-- enroller.port) on the network named by the label enroller.network or the
-- container's only network; its name is prometheus-<container name>.
-- teleport.dev/ignore=true leaves the container alone; teleport.dev/ labels
-- hand it to labels.lua (priority 100).

local web = require("enroller.web")

return web.image_rule {
  name = "prometheus",
  description = "Prometheus web UI of prom/prometheus containers",
  title = "Prometheus",
  images = { "prom/prometheus", "quay.io/prometheus/prometheus" },
  port = 9090,
}

owner "h"
reconcile { grace = -1, resync = "x" }

#pragma once
// The SAE study's routes (Study 2):
//   GET /api/sweeps/{id}/sae[?layer=N]  per model, layer x checkpoint grids
//        of the language fractions, dead fraction, mean R and mean span (the
//        tables of `expctl report --sae`), the analysis job of each cell,
//        and the language fractions over checkpoints at one layer
//   GET /api/jobs/{id}/features         an analyze_sae job's features.json,
//        filtered, sorted and paged on the server (class, sort, order,
//        offset, limit, min_count)

#include <httplib.h>

#include "client/web/api_routes.h"

namespace expsvc::web {

void RegisterSaeRoutes(httplib::Server& server, const ApiContext& context);

}  // namespace expsvc::web

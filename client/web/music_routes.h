#pragma once
// The music study's routes (Study 1):
//   GET  /api/sweeps/{id}/music    the paper-style table (expctl report's),
//                                  each generated piece beside its original
//                                  with its listening-test ratings, and the
//                                  self-similarity artifacts of evaluations
//   GET  /api/artifacts/{id}/notes a MIDI artifact as notes, for the piano
//                                  roll and playback in the browser
//   POST /api/ratings              a listening-test rating, passed on to the
//                                  scheduler (ApiContext::submit_rating)

#include <httplib.h>

#include "client/web/api_routes.h"

namespace expsvc::web {

void RegisterMusicRoutes(httplib::Server& server, const ApiContext& context);

}  // namespace expsvc::web

// Names shared by the reaper (reaper.c) and the Go side that starts it
// (reaper.go); a unit test runs the reaper through the Go names.
#ifndef BRIG_REAPER_H
#define BRIG_REAPER_H

// argv[1] of a brig process acting as the reaper (spec.InitArg).
#define BRIG_REAPER_ARG "__brig_reaper__"

// The environment variable that gives the reaper brig's status pipe
// (reaperStatusEnv).
#define BRIG_STATUS_ENV "_BRIG_STATUS_FD"

#endif

#include "engine/base/common.h"
#include "engine/cmd/cmd_audit_int.h"
int audit_cmd_sql(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return EXIT_FAIL;
}

/* SPDX-License-Identifier: MIT */
/*
 * kdcsync subcommands for kprop compatibility:
 *
 *   kdcsync -c FILE kprop [-P PORT] HOST[:PORT]
 *       one full propagation of this node's store to a kpropd on HOST
 *       (default port 754), as `kprop -f` would send a dump file.
 *   kdcsync -c FILE kpropd [--once] [--port-file F]
 *       a foreground kprop listener on [kprop] listen (for sites without
 *       the daemon's listener, and for tests); --once serves one
 *       connection and exits with its status.
 *
 * Both read [kprop] keytab/principal/realm/timeout (and listen/acl_file)
 * and open the store in [node] state_dir.  Exit status: 0 on success, 1 on
 * any failure with a kprop-like message on stderr.
 */
#pragma once

int node_kprop_cmd_push(const char *conf_path, int argc, char **argv);
int node_kprop_cmd_serve(const char *conf_path, int argc, char **argv);

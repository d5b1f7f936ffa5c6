#ifndef ESCALATOR_CRABBITMQ_SHIM_H
#define ESCALATOR_CRABBITMQ_SHIM_H

// rabbitmq-c 0.12+ moved its headers under <rabbitmq-c/...>; Debian 12 ships 0.11 with flat names.
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#endif

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/time.h>

// amqp_login and amqp_login_with_properties are C-variadic, which Swift cannot call: these
// fixed-arity wrappers pin the SASL PLAIN mechanism and its two arguments.
static inline amqp_rpc_reply_t escalator_amqp_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max,
    int heartbeat_seconds, const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat_seconds,
                      AMQP_SASL_METHOD_PLAIN, user, password);
}

static inline amqp_rpc_reply_t escalator_amqp_login_plain_with_properties(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max,
    int heartbeat_seconds, const amqp_table_t *client_properties, const char *user,
    const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat_seconds,
                                      client_properties, AMQP_SASL_METHOD_PLAIN, user, password);
}

// AMQP_EMPTY_BYTES and AMQP_EMPTY_TABLE are macros over compound literals, which do not import.
static inline amqp_bytes_t escalator_amqp_empty_bytes(void) {
    amqp_bytes_t bytes = {0, NULL};
    return bytes;
}

static inline amqp_table_t escalator_amqp_empty_table(void) {
    amqp_table_t table = {0, NULL};
    return table;
}

// Bytes received on `fd` and not read yet (FIONREAD), or -1: ioctl is C-variadic, which Swift
// cannot call. A publisher waiting to write watches it grow to tell a broker that stopped
// reading (a resource alarm; it still sends heartbeats) from one that is gone.
static inline int escalator_socket_unread_bytes(int fd) {
    int count = 0;
    return ioctl(fd, FIONREAD, &count) == 0 ? count : -1;
}

#endif

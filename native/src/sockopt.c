// getsockopt wrappers that Node does not expose: SO_PEERCRED (who is on the other end of a
// unix socket, as the kernel saw it at connect time) and SO_ORIGINAL_DST (where a connection
// was going before an iptables REDIRECT). Both take a file descriptor and throw on failure.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : err == ENOENT ? "ENOENT" : "ESOCKOPT", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnoValue;
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_throw(env, error);
  return NULL;
}

static int read_fd(napi_env env, napi_callback_info info, int32_t* fd) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd must be a number");
    return -1;
  }
  napi_get_value_int32(env, argv[0], fd);
  return 0;
}

static void set_uint(napi_env env, napi_value obj, const char* name, uint32_t v) {
  napi_value n;
  napi_create_uint32(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

static napi_value get_peer_credentials(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (read_fd(env, info, &fd) != 0) return NULL;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  napi_value out;
  napi_create_object(env, &out);
  set_uint(env, out, "pid", (uint32_t)cred.pid);
  set_uint(env, out, "uid", cred.uid);
  set_uint(env, out, "gid", cred.gid);
  return out;
}

static napi_value get_original_destination(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (read_fd(env, info, &fd) != 0) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  // Try IPv4 first; an IPv6 socket answers the IPv6 option instead.
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len) != 0) {
    int err4 = errno;
    len = sizeof ss;
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len) != 0) return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", err4);
  }
  char addr[INET6_ADDRSTRLEN];
  uint16_t port;
  const char* family;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in* sin = (struct sockaddr_in*)&ss;
    inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr);
    port = ntohs(sin->sin_port);
    family = "IPv4";
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6* sin6 = (struct sockaddr_in6*)&ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof addr);
    port = ntohs(sin6->sin6_port);
    family = "IPv6";
  } else {
    return throw_errno(env, "getsockopt(SO_ORIGINAL_DST): unexpected address family", EAFNOSUPPORT);
  }
  napi_value out, a, f;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &a);
  napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &f);
  napi_set_named_property(env, out, "address", a);
  napi_set_named_property(env, out, "family", f);
  set_uint(env, out, "port", port);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"getPeerCredentials", NULL, get_peer_credentials, NULL, NULL, NULL, napi_default, NULL},
      {"getOriginalDestination", NULL, get_original_destination, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

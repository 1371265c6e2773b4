// send(socketFd, fileFd, offset, length, idleTimeoutMs, callback) -> transfer
//
// Copies `length` bytes of the file from `offset` to the socket with sendfile(2), on a
// thread of its own: not the main thread, and not libuv's pool, whose four threads a few
// slow clients would otherwise take from all file I/O. Both descriptors are dup()ed
// first, so Node closing its socket meanwhile can never hand the number to another
// connection while bytes are still going out. The callback gets (errno or 0, bytes sent)
// on the main thread. transfer.cancel() shuts the socket down, which ends the thread soon.
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

// Bytes per sendfile call: large enough to cost little, small enough to notice a cancel.
#define CHUNK (4 * 1024 * 1024)

typedef struct {
  int socket;
  int file;
  int64_t offset;
  int64_t length;
  int idle_timeout_ms;
  int64_t sent;
  int error;
  int finished;  // the thread is done and the descriptors are closed
  int refs;      // the thread and the JS transfer object
  pthread_mutex_t lock;
  napi_threadsafe_function done;
} transfer_t;

static void release(transfer_t* t) {
  pthread_mutex_lock(&t->lock);
  int left = --t->refs;
  pthread_mutex_unlock(&t->lock);
  if (left == 0) {
    pthread_mutex_destroy(&t->lock);
    free(t);
  }
}

static int copy(transfer_t* t) {
  off_t offset = (off_t)t->offset;
  while (t->sent < t->length) {
    int64_t want = t->length - t->sent;
    ssize_t n = sendfile(t->socket, t->file, &offset, (size_t)(want < CHUNK ? want : CHUNK));
    if (n > 0) {
      t->sent += n;
      continue;
    }
    if (n == 0) return EIO;  // the file is shorter than promised
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return errno;
    struct pollfd p = {.fd = t->socket, .events = POLLOUT};
    int ready;
    do ready = poll(&p, 1, t->idle_timeout_ms);
    while (ready < 0 && errno == EINTR);
    if (ready < 0) return errno;
    if (ready == 0) return ETIMEDOUT;  // the client took nothing for the whole idle timeout
    // POLLERR/POLLHUP: the next sendfile reports the socket's error.
  }
  return 0;
}

static void* run(void* arg) {
  transfer_t* t = arg;
  int error = copy(t);
  pthread_mutex_lock(&t->lock);
  t->error = error;
  t->finished = 1;
  close(t->socket);
  close(t->file);
  pthread_mutex_unlock(&t->lock);
  napi_call_threadsafe_function(t->done, t, napi_tsfn_blocking);
  napi_release_threadsafe_function(t->done, napi_tsfn_release);
  return NULL;
}

static void call_done(napi_env env, napi_value callback, void* context, void* data) {
  (void)context;
  transfer_t* t = data;
  if (env != NULL && callback != NULL) {
    napi_value args[2], undefined;
    napi_create_int32(env, t->error, &args[0]);
    napi_create_int64(env, t->sent, &args[1]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, callback, 2, args, NULL);
  }
  release(t);
}

static void finalize_transfer(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  release(data);
}

static napi_value cancel(napi_env env, napi_callback_info info) {
  napi_value self;
  napi_get_cb_info(env, info, NULL, NULL, &self, NULL);
  transfer_t* t;
  if (napi_unwrap(env, self, (void**)&t) != napi_ok) return NULL;
  pthread_mutex_lock(&t->lock);
  // Only while the dup is ours: once closed, the number may belong to someone else.
  if (!t->finished) shutdown(t->socket, SHUT_RDWR);
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

static napi_value throw_errno(napi_env env, int error, const char* what) {
  napi_value message, code, err;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &err);
  napi_create_int32(env, error, &code);
  napi_set_named_property(env, err, "errno", code);
  napi_throw(env, err);
  return NULL;
}

static napi_value send_file(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t socket_fd, file_fd, idle_ms;
  int64_t offset, length;
  napi_valuetype callback_type;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &socket_fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &file_fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[3], &length) != napi_ok ||
      napi_get_value_int32(env, argv[4], &idle_ms) != napi_ok ||
      napi_typeof(env, argv[5], &callback_type) != napi_ok || callback_type != napi_function ||
      socket_fd < 0 || file_fd < 0 || offset < 0 || length < 0 || idle_ms <= 0) {
    napi_throw_type_error(env, NULL, "send(socketFd, fileFd, offset, length, idleTimeoutMs, callback)");
    return NULL;
  }

  transfer_t* t = calloc(1, sizeof(transfer_t));
  if (t == NULL) return throw_errno(env, ENOMEM, "out of memory");
  t->offset = offset;
  t->length = length;
  t->idle_timeout_ms = idle_ms;
  t->socket = fcntl(socket_fd, F_DUPFD_CLOEXEC, 0);
  t->file = t->socket < 0 ? -1 : fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
  if (t->file < 0) {
    int error = errno;
    if (t->socket >= 0) close(t->socket);
    free(t);
    return throw_errno(env, error, "dup failed");
  }
  pthread_mutex_init(&t->lock, NULL);
  t->refs = 2;

  napi_value name, transfer, method;
  napi_create_string_utf8(env, "berth-sendfile", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &transfer);
  napi_create_function(env, "cancel", NAPI_AUTO_LENGTH, cancel, NULL, &method);
  napi_set_named_property(env, transfer, "cancel", method);
  napi_wrap(env, transfer, t, finalize_transfer, NULL, NULL);
  napi_create_threadsafe_function(env, argv[5], NULL, name, 0, 1, NULL, NULL, NULL, call_done, &t->done);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t thread;
  int error = pthread_create(&thread, &attr, run, t);
  pthread_attr_destroy(&attr);
  if (error != 0) {
    close(t->socket);
    close(t->file);
    t->finished = 1;
    napi_release_threadsafe_function(t->done, napi_tsfn_abort);
    release(t);  // the thread's reference; the transfer object's goes with it
    return throw_errno(env, error, "cannot start a sendfile thread");
  }
  return transfer;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, send_file, NULL, &fn);
  napi_set_named_property(env, exports, "send", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

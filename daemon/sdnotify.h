/* sdnotify.h -- systemd service notifications (READY=1, STOPPING=1, ...)
 * over $NOTIFY_SOCKET; a no-op when not run by systemd. */
#ifndef BACKFILLD_SDNOTIFY_H
#define BACKFILLD_SDNOTIFY_H

/* Sends one state string, e.g. "READY=1\nSTATUS=running".  Returns 0, or -1
 * if NOTIFY_SOCKET is set but the message could not be sent. */
int sdnotify_send(const char *state);

/* The watchdog interval systemd asked for ($WATCHDOG_USEC, for this pid
 * when $WATCHDOG_PID is set), in microseconds; 0 when none. */
long long sdnotify_watchdog_usec(void);

#endif /* BACKFILLD_SDNOTIFY_H */

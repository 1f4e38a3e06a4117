/**
 * Who may do what: users from an htpasswd file (bcrypt only), groups, permission rules over repository
 * globs (pull, push, delete; first match wins), the admin right, Cairn's own short-lived signed tokens
 * (the Docker registry token protocol) and tokens of an external issuer, and the cooling-off period
 * for sources that keep failing to log in. No HTTP types: the edge turns these answers into 401, 403
 * and 429.
 */
package dev.cairn.auth;

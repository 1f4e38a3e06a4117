/**
 * The keyed cache: content a build tool stores under a key of its own choosing (ccache, Gradle, Bazel,
 * Turborepo, any WebDAV client), in a namespace. The content is a blob of the one blob store, kept once
 * however many keys name it; the key is an entry that retention evicts beside images, by the same budget
 * and LRU order. Knows nothing of HTTP: each client's protocol is a front over this.
 */
package dev.cairn.keyed;

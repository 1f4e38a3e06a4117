/**
 * The leaf every other package may import and that imports none of them: the values requests name
 * ({@link dev.cairn.values.Digest}, {@link dev.cairn.values.RepositoryName}, {@link dev.cairn.values.Tag},
 * {@link dev.cairn.values.Reference}, {@link dev.cairn.values.Descriptor}, {@link dev.cairn.values.Glob}),
 * why something was deleted ({@link dev.cairn.values.DeletionReason}), and why a request is refused
 * ({@link dev.cairn.values.Refusal} with its domain reason). The OCI wire codes ({@link dev.cairn.values.ErrorCode})
 * live here too, but only the HTTP edge's one table ({@code http.OciErrors}) chooses one.
 */
package dev.cairn.values;

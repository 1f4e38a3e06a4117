package dev.cairn.registry;

import dev.cairn.values.Digest;
import java.util.Optional;

/** The outcome of a manifest PUT: its canonical digest and, for referrers, the subject it names. */
public record ManifestPushed(Digest digest, Optional<Digest> subject) {
}

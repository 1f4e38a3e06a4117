package dev.cairn.transfer;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * What a long transfer reports as it goes, for a progress display: the bytes it means to move once it knows
 * them, and the bytes moved as they flow (not only when a blob is done: one layer may be gigabytes).
 */
public interface TransferMeter {
    /** The bytes this transfer will move, when it knows them before it starts (import does; export learns as it goes). */
    void planned(long bytes);

    void moved(long bytes);

    /** Bytes once planned that need not move after all (the target had them): the total shrinks by them. */
    default void skipped(long bytes) {
    }

    /** The transfer is over, completed or not. */
    void finished();

    TransferMeter NONE = new TransferMeter() {
        @Override
        public void planned(long bytes) {
        }

        @Override
        public void moved(long bytes) {
        }

        @Override
        public void finished() {
        }
    };

    /** {@code in}, counting what is read from it into this meter. */
    default InputStream metered(InputStream in) {
        TransferMeter meter = this;
        return new FilterInputStream(in) {
            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) meter.moved(1);
                return b;
            }

            @Override
            public int read(byte[] buffer, int off, int len) throws IOException {
                int n = super.read(buffer, off, len);
                if (n > 0) meter.moved(n);
                return n;
            }
        };
    }
}

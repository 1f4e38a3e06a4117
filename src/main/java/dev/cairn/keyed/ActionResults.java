package dev.cairn.keyed;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.WireFormat;
import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The blobs a Bazel action result names, read from the Remote Execution API's messages field by field
 * (their field numbers are the API's, stable since v2): an {@code ActionResult}'s output files, output
 * directories (each a {@code Tree} in the CAS, whose files are named in turn) and stdout and stderr. Bytes
 * inlined in the message name nothing.
 */
final class ActionResults {
    private ActionResults() {
    }

    /** A blob of the CAS as a message names it. */
    record CasDigest(Digest digest, long size) {
    }

    /** What an {@code ActionResult} names: file blobs (outputs, stdout, stderr) and the trees of output directories. */
    record Named(List<CasDigest> files, List<CasDigest> trees) {
    }

    // ActionResult
    private static final int OUTPUT_FILES = 2;
    private static final int OUTPUT_DIRECTORIES = 3;
    private static final int STDOUT_DIGEST = 6;
    private static final int STDERR_DIGEST = 8;
    // OutputFile, FileNode
    private static final int FILE_DIGEST = 2;
    // OutputDirectory
    private static final int TREE_DIGEST = 3;
    // Tree
    private static final int TREE_ROOT = 1;
    private static final int TREE_CHILDREN = 2;
    // Directory
    private static final int DIRECTORY_FILES = 1;
    // Digest
    private static final int HASH = 1;
    private static final int SIZE_BYTES = 2;

    static Named actionResult(byte[] message) {
        List<CasDigest> files = new ArrayList<>();
        List<CasDigest> trees = new ArrayList<>();
        try {
            CodedInputStream in = CodedInputStream.newInstance(message);
            for (int tag; (tag = in.readTag()) != 0; ) {
                switch (fieldOf(tag)) {
                    case OUTPUT_FILES -> digestField(in.readBytes().toByteArray(), FILE_DIGEST, files);
                    case OUTPUT_DIRECTORIES -> digestField(in.readBytes().toByteArray(), TREE_DIGEST, trees);
                    case STDOUT_DIGEST, STDERR_DIGEST -> files.add(digest(in.readBytes().toByteArray()));
                    default -> in.skipField(tag);
                }
            }
        } catch (IOException e) {
            throw malformed("ActionResult", e);
        }
        return new Named(files, trees);
    }

    /**
     * Hands {@code files} each file a {@code Tree} names, in its root and every child directory, read from
     * {@code tree} as it streams: one directory at a time in memory, each at most {@code maxDirectoryBytes}.
     */
    static void treeFiles(java.io.InputStream tree, int maxDirectoryBytes, java.util.function.Consumer<CasDigest> files) {
        try {
            CodedInputStream in = CodedInputStream.newInstance(tree);
            in.setSizeLimit(maxDirectoryBytes + 64);
            for (int tag; (tag = in.readTag()) != 0; in.resetSizeCounter()) {
                if (fieldOf(tag) == TREE_ROOT || fieldOf(tag) == TREE_CHILDREN) {
                    CodedInputStream directory = CodedInputStream.newInstance(in.readBytes().toByteArray());
                    for (int inner; (inner = directory.readTag()) != 0; ) {
                        if (fieldOf(inner) == DIRECTORY_FILES) {
                            List<CasDigest> named = new ArrayList<>(1);
                            digestField(directory.readBytes().toByteArray(), FILE_DIGEST, named);
                            named.forEach(files);
                        } else {
                            directory.skipField(inner);
                        }
                    }
                } else {
                    in.skipField(tag);
                }
            }
        } catch (IOException e) {
            throw malformed("Tree", e);
        }
    }

    private static int fieldOf(int tag) {
        return WireFormat.getTagFieldNumber(tag);
    }

    /** Adds the Digest in field {@code field} of {@code message}, when it has one. */
    private static void digestField(byte[] message, int field, List<CasDigest> into) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(message);
        for (int tag; (tag = in.readTag()) != 0; ) {
            if (fieldOf(tag) == field) {
                into.add(digest(in.readBytes().toByteArray()));
            } else {
                in.skipField(tag);
            }
        }
    }

    private static CasDigest digest(byte[] message) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(message);
        String hash = "";
        long size = 0;
        for (int tag; (tag = in.readTag()) != 0; ) {
            switch (fieldOf(tag)) {
                case HASH -> hash = in.readString();
                case SIZE_BYTES -> size = in.readInt64();
                default -> in.skipField(tag);
            }
        }
        if (size < 0) throw new InvalidProtocolBufferException("a negative size");
        return new CasDigest(BazelCache.casDigest(hash), size);
    }

    private static Refusal malformed(String message, IOException e) {
        return new Refusal(Refusal.Reason.INVALID_REQUEST, "not a Remote Execution API " + message + ": " + e.getMessage());
    }
}

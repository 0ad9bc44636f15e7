/**
 * What the mapping needs to know about the node but may not look up itself
 * (it does no I/O): the caller answers these from the host's filesystem.
 * Every member is optional; without one the mapping does less (and says so
 * in the result's warnings) rather than guess.
 */
export interface HostFacts {
  /** Whether a host path exists. Used for masked paths under /proc and /sys, whose host view matches the container's. */
  exists?(path: string): boolean;
  /** Whether a host path is a directory (else a file or device). Masked paths and mount points in read-only roots need it. */
  isDirectory?(path: string): boolean;
  /** A host file's text, undefined when missing: seccomp Localhost profiles. */
  readFile?(path: string): string | undefined;
  /** Every device node under the host's /dev: a privileged container gets them all. */
  devices?: readonly string[];
  /**
   * An empty regular file on the filesystem of Porto's volumes (e.g.
   * /place/portoshim_volumes/.empty). A read-only root cannot get new mount
   * points at start, so files the image lacks (/etc/resolv.conf, /etc/hosts,
   * ...) are hard-linked into its volume from this, copy-on-write.
   */
  emptyFile?: string;
  /** An empty host directory, bound read-only over masked directories (/proc/acpi, /sys/firmware, ...). */
  emptyDir?: string;
}

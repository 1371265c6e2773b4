/**
 * Local writers of tags, manifests and repositories say here, once their transaction has
 * committed, which repositories they changed, so this process's manifest cache drops
 * them at once (other replicas learn it from the `berth_manifests` notification, a few
 * ms later). It lives here, below every library that writes those rows.
 */
export class ManifestChanges {
  private readonly listeners: ((repositories: string[] | 'all') => void)[] = [];

  onChange(listener: (repositories: string[] | 'all') => void): void {
    this.listeners.push(listener);
  }

  /** `'all'`: many or unknown repositories (a namespace's, or garbage collection's). */
  changed(repositories: string[] | 'all'): void {
    for (const listener of this.listeners) listener(repositories);
  }
}

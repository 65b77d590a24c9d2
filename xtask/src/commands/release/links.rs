//! Where an archive's entries land when it is extracted, links followed as
//! the kernel follows them (POSIX "Pathname Resolution"): every symbolic
//! link met on the way is resolved from the folder that holds it, with the
//! links that earlier entries made, so a chain such as `R/s1 -> .`,
//! `R/up -> s1/..` is seen to lead out of `R/` even though each link alone
//! stays inside lexically.
//!
//! Entries are added in archive order, as `tar` and Python's `tarfile`
//! extract them; each one is checked when it is added, and every link again
//! against the final tree, since a later entry can change where an earlier
//! link leads.

use std::collections::BTreeMap;

/// Links followed in one resolution at most, as Linux's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// What an extracted path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File,
    /// A symbolic link and its target, as written in the archive.
    Symlink(String),
}

/// The extracted tree, by path components below the extraction folder.
pub struct Tree {
    root: String,
    nodes: BTreeMap<Vec<String>, Node>,
}

impl Tree {
    /// An extraction into an empty folder of an archive whose root folder is
    /// `root`.
    pub fn new(root: &str) -> Self {
        Self {
            root: root.to_owned(),
            nodes: BTreeMap::from([(vec![root.to_owned()], Node::Dir)]),
        }
    }

    /// Adds the entry at `rel` (relative to the root folder, `/`-separated,
    /// without `..`), following links in its folders. A hard link is added
    /// as the file it names, which must resolve inside the root folder too.
    ///
    /// Errors: the entry lands outside the root folder, on a link, or on a
    /// path an earlier entry already holds through another spelling.
    pub fn add(&mut self, rel: &str, node: Node, hard_link: Option<&str>) -> Result<(), String> {
        let mut parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let Some(name) = parts.pop() else {
            return match node {
                Node::Dir => Ok(()),
                _ => Err("the root folder is not a folder".into()),
            };
        };
        let mut at = self.resolve(std::slice::from_ref(&self.root), &parts.join("/"))?;
        at.push(name.to_owned());
        if let Some(target) = hard_link {
            let file = self.resolve(&[], target)?;
            if self.nodes.get(&file) != Some(&Node::File) {
                return Err(format!(
                    "hard link to `{target}`, which is no file of the archive"
                ));
            }
        }
        match (self.nodes.get(&at), &node) {
            (None, _) | (Some(Node::Dir), Node::Dir) => {}
            (Some(_), _) => {
                return Err(format!(
                    "lands on `{}`, which an earlier entry already holds",
                    at.join("/")
                ));
            }
        }
        if let Node::Symlink(target) = &node {
            self.resolve(&at[..at.len() - 1], target)
                .map_err(|e| format!("link to `{target}` {e}"))?;
        }
        self.nodes.insert(at, node);
        Ok(())
    }

    /// Checks every link against the finished tree.
    ///
    /// Errors: a link that now leads outside the root folder.
    pub fn check_links(&self) -> Result<(), String> {
        for (at, node) in &self.nodes {
            if let Node::Symlink(target) = node {
                self.resolve(&at[..at.len() - 1], target).map_err(|e| {
                    format!("link `{}` to `{target}` {e} once extracted", at.join("/"))
                })?;
            }
        }
        Ok(())
    }

    /// Resolves `path` from the folder `from`, following every link.
    fn resolve(&self, from: &[String], path: &str) -> Result<Vec<String>, String> {
        let mut budget = MAX_LINKS;
        self.walk(from.to_vec(), path, &mut budget)
    }

    fn walk(
        &self,
        mut at: Vec<String>,
        path: &str,
        budget: &mut usize,
    ) -> Result<Vec<String>, String> {
        if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
            return Err("is an absolute path".into());
        }
        for part in path.split(['/', '\\']) {
            match part {
                "" | "." => continue,
                ".." => {
                    at.pop();
                }
                name => {
                    at.push(name.to_owned());
                    if let Some(Node::Symlink(target)) = self.nodes.get(&at) {
                        *budget = budget.checked_sub(1).ok_or("follows too many links")?;
                        at.pop();
                        at = self.walk(at, target, budget)?;
                    }
                }
            }
            if at.first() != Some(&self.root) {
                return Err(format!("leads outside the root folder `{}/`", self.root));
            }
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(t: &str) -> Node {
        Node::Symlink(t.into())
    }

    #[test]
    fn a_chain_of_links_that_leaves_the_root_is_caught() {
        let mut t = Tree::new("R");
        t.add("s1", link("."), None).unwrap();
        // Lexically `R/s1/..` is `R`; through the link it is the parent of R.
        let e = t.add("up", link("s1/.."), None).unwrap_err();
        assert!(e.contains("leads outside the root folder `R/`"), "{e}");
    }

    #[test]
    fn entries_are_placed_through_the_links_of_earlier_entries() {
        let mut t = Tree::new("R");
        // Harmless alone; a later `n -> .` makes `up` the extraction folder.
        t.add("up", link("n/.."), None).unwrap();
        t.add("n", link("."), None).unwrap();
        let e = t.add("up/evil.txt", Node::File, None).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(t.check_links().unwrap_err().contains("link `R/up`"));
    }

    #[test]
    fn links_inside_the_root_and_their_aliases() {
        let mut t = Tree::new("R");
        t.add("a.bin", Node::File, None).unwrap();
        t.add("sub", Node::Dir, None).unwrap();
        t.add("sub/back", link("../a.bin"), None).unwrap();
        t.add("here", link("sub"), None).unwrap();
        t.add("here/new.txt", Node::File, None).unwrap();
        // The same file through the link.
        let e = t.add("sub/new.txt", Node::File, None).unwrap_err();
        assert!(e.contains("already holds"), "{e}");
        // Writing through a link to a file would overwrite what it names.
        let e = t.add("sub/back", Node::File, None).unwrap_err();
        assert!(e.contains("already holds"), "{e}");
        t.add("hard", Node::File, Some("R/sub/back")).unwrap();
        let e = t.add("hard2", Node::File, Some("R/missing")).unwrap_err();
        assert!(e.contains("no file"), "{e}");
        assert!(t.add("abs", link("/etc"), None).is_err());
        t.check_links().unwrap();
        t.add("loop1", link("loop2"), None).unwrap();
        t.add("loop2", link("loop1"), None).unwrap();
        assert!(
            t.add("loop1/x", Node::File, None)
                .unwrap_err()
                .contains("too many")
        );
        assert!(t.check_links().unwrap_err().contains("too many"));
    }
}

//! The selector flags every command that takes `SEL` accepts, defined once.

/// Defines an argh subcommand struct with the given fields plus the selector flags, and a
/// `selector(targets)` method building a [`crate::proto::Selector`]. Fields are passed through
/// as raw tokens because argh inspects their types literally. `without_name_filter;` leaves
/// out `--name` for a command that uses that flag for something else (`label`).
macro_rules! with_selector {
    (without_name_filter; $(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::cli::select::with_selector!(@build [] $(#[$meta])* pub struct $name { $($body)* });
    };
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::cli::select::with_selector!(@build [name] $(#[$meta])* pub struct $name { $($body)* });
    };
    (@build [$($nf:ident)?] $(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        #[derive(argh::FromArgs, Debug)]
        $(#[$meta])*
        pub struct $name {
            $($body)*
            /// select entries with this tag (repeat: any of them)
            #[argh(option)]
            pub tag: Vec<String>,
            /// select entries with every one of these tags (repeat)
            #[argh(option)]
            pub tag_all: Vec<String>,
            /// select entries in this group (repeat: any of them)
            #[argh(option)]
            pub group: Vec<String>,
            /// select entries in every one of these groups (repeat)
            #[argh(option)]
            pub group_all: Vec<String>,
            /// select the entry whose main process has this pid (repeat)
            #[argh(option)]
            pub pid: Vec<i32>,
            /// select the entry with this id (repeat)
            #[argh(option)]
            pub id: Vec<u64>,
            $(
            /// select the entry with this name (repeat)
            #[argh(option)]
            pub $nf: Vec<String>,
            )?
            /// select entries in this state (repeat): starting, running, stopping, stopped, exited, backoff, errored
            #[argh(option)]
            pub state: Vec<String>,
            /// select entries whose command line contains this text (repeat)
            #[argh(option)]
            pub search: Vec<String>,
            /// select entries created by this client, e.g. wrangle-cli (repeat)
            #[argh(option)]
            pub originator: Vec<String>,
            /// select only entries whose process may be alive
            #[argh(switch)]
            pub alive: bool,
            /// act on every matching entry (required when filters or all match several)
            #[argh(switch)]
            pub all: bool,
        }

        impl $name {
            /// The selector these flags and `targets` describe.
            #[allow(clippy::needless_update)]
            pub fn selector(&self, targets: &[String]) -> $crate::proto::Selector {
                $crate::proto::Selector {
                    targets: targets.to_vec(),
                    tag: self.tag.clone(),
                    tag_all: self.tag_all.clone(),
                    group: self.group.clone(),
                    group_all: self.group_all.clone(),
                    pid: self.pid.clone(),
                    id: self.id.clone(),
                    $( $nf: self.$nf.clone(), )?
                    state: self.state.clone(),
                    search: self.search.clone(),
                    originator: self.originator.clone(),
                    alive: self.alive,
                    all: self.all,
                    project: $crate::config::services::project::of_current_folder(),
                    ..$crate::proto::Selector::default()
                }
            }
        }
    };
}

pub(crate) use with_selector;

"""Local mode: runs Oratio's main job with no AWS account (moto for what moto implements, small
honest stand-ins for the rest). Never used when deployed; never bundled into a Lambda."""

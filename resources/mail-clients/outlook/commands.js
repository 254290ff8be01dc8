// The function file of the read-surface button: FunctionName "trackInCrm" in the manifest.
Office.onReady(function () {
  Office.actions.associate("trackInCrm", CrmTrack.onTrackButton);
});

// chathook console: written on branch console-page
